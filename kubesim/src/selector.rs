//! Label and field selectors, parsed with the API server's grammar and error messages.
//!
//! Labels: `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k`, `!k`, comma-separated.
//! Fields: `f=v`, `f==v`, `f!=v` on the labels a kind supports (see
//! [`ResourceType::supports_field`]); any other label is the API server's `field label not
//! supported` error. Parse errors are returned as messages; the caller makes them a 400.

use serde_json::Value;

use crate::resources::ResourceType;

#[derive(Debug, Clone, PartialEq)]
enum LabelOp {
    Eq(String),
    NotEq(String),
    In(Vec<String>),
    NotIn(Vec<String>),
    Exists,
    NotExists,
}

/// A parsed label selector; the empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LabelSelector {
    requirements: Vec<(String, LabelOp)>,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Not,
    Eq,
    DoubleEq,
    NotEq,
    In,
    NotIn,
    Open,
    Close,
    Comma,
    End,
}

impl Token {
    fn describe(&self) -> String {
        match self {
            Token::Ident(s) => s.clone(),
            Token::Not => "!".into(),
            Token::Eq => "=".into(),
            Token::DoubleEq => "==".into(),
            Token::NotEq => "!=".into(),
            Token::In => "in".into(),
            Token::NotIn => "notin".into(),
            Token::Open => "(".into(),
            Token::Close => ")".into(),
            Token::Comma => ",".into(),
            Token::End => String::new(),
        }
    }
}

fn lex(input: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let chars: Vec<char> = input.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' | '\n' | '\r' => i += 1,
            '(' => {
                tokens.push(Token::Open);
                i += 1;
            }
            ')' => {
                tokens.push(Token::Close);
                i += 1;
            }
            ',' => {
                tokens.push(Token::Comma);
                i += 1;
            }
            '!' if chars.get(i + 1) == Some(&'=') => {
                tokens.push(Token::NotEq);
                i += 2;
            }
            '!' => {
                tokens.push(Token::Not);
                i += 1;
            }
            '=' if chars.get(i + 1) == Some(&'=') => {
                tokens.push(Token::DoubleEq);
                i += 2;
            }
            '=' => {
                tokens.push(Token::Eq);
                i += 1;
            }
            _ => {
                let start = i;
                while i < chars.len()
                    && !matches!(
                        chars[i],
                        ' ' | '\t' | '\n' | '\r' | '(' | ')' | ',' | '!' | '='
                    )
                {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                tokens.push(match word.as_str() {
                    "in" => Token::In,
                    "notin" => Token::NotIn,
                    _ => Token::Ident(word),
                });
            }
        }
    }
    tokens.push(Token::End);
    tokens
}

fn requirement_error(found: &Token, expected: &str) -> String {
    format!(
        "unable to parse requirement: found '{}', expected: {expected}",
        found.describe()
    )
}

fn valid_label_value(value: &str) -> bool {
    value.is_empty()
        || (value.len() <= 63
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && value.starts_with(|c: char| c.is_ascii_alphanumeric())
            && value.ends_with(|c: char| c.is_ascii_alphanumeric()))
}

fn check_value(key: &str, value: &str) -> Result<(), String> {
    if valid_label_value(value) {
        Ok(())
    } else {
        Err(format!(
            "unable to parse requirement: values[0][{key}]: Invalid value: \"{value}\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
        ))
    }
}

fn check_key(key: &str) -> Result<(), String> {
    let name = key.rsplit('/').next().unwrap_or(key);
    if !name.is_empty()
        && name.len() <= 63
        && valid_label_value(name)
        && key.matches('/').count() <= 1
    {
        Ok(())
    } else {
        Err(format!(
            "unable to parse requirement: key: Invalid value: \"{key}\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
        ))
    }
}

impl LabelSelector {
    pub fn parse(input: &str) -> Result<LabelSelector, String> {
        let tokens = lex(input);
        let mut pos = 0;
        let mut requirements = Vec::new();
        if tokens.len() == 1 {
            return Ok(LabelSelector::default());
        }
        loop {
            let negated = tokens[pos] == Token::Not;
            if negated {
                pos += 1;
            }
            let key = match &tokens[pos] {
                Token::Ident(k) => k.clone(),
                other => return Err(requirement_error(other, "identifier")),
            };
            check_key(&key)?;
            pos += 1;
            let op = if negated {
                LabelOp::NotExists
            } else {
                match &tokens[pos] {
                    Token::Comma | Token::End => LabelOp::Exists,
                    Token::Eq | Token::DoubleEq | Token::NotEq => {
                        let eq = tokens[pos] != Token::NotEq;
                        pos += 1;
                        let value = match &tokens[pos] {
                            Token::Ident(v) => {
                                pos += 1;
                                v.clone()
                            }
                            Token::Comma | Token::End => String::new(),
                            other => return Err(requirement_error(other, "identifier")),
                        };
                        check_value(&key, &value)?;
                        if eq {
                            LabelOp::Eq(value)
                        } else {
                            LabelOp::NotEq(value)
                        }
                    }
                    Token::In | Token::NotIn => {
                        let is_in = tokens[pos] == Token::In;
                        pos += 1;
                        if tokens[pos] != Token::Open {
                            return Err(requirement_error(&tokens[pos], "'('"));
                        }
                        pos += 1;
                        let mut values = Vec::new();
                        loop {
                            match &tokens[pos] {
                                Token::Ident(v) => {
                                    check_value(&key, v)?;
                                    values.push(v.clone());
                                    pos += 1;
                                }
                                Token::Close if values.is_empty() => {}
                                other => return Err(requirement_error(other, "identifier")),
                            }
                            match &tokens[pos] {
                                Token::Comma => pos += 1,
                                Token::Close => {
                                    pos += 1;
                                    break;
                                }
                                other => return Err(requirement_error(other, "',' or ')'")),
                            }
                        }
                        if values.is_empty() {
                            return Err(format!(
                                "unable to parse requirement: values: Invalid value: \"{key}\": for 'in', 'notin' operators, values set can't be empty"
                            ));
                        }
                        if is_in {
                            LabelOp::In(values)
                        } else {
                            LabelOp::NotIn(values)
                        }
                    }
                    other => {
                        return Err(requirement_error(other, "in, notin, =, ==, !=, gt, lt"));
                    }
                }
            };
            if negated && !matches!(tokens[pos], Token::Comma | Token::End) {
                return Err(requirement_error(&tokens[pos], "',' or 'end of string'"));
            }
            requirements.push((key, op));
            match &tokens[pos] {
                Token::Comma => pos += 1,
                Token::End => break,
                other => return Err(requirement_error(other, "','")),
            }
        }
        Ok(LabelSelector { requirements })
    }

    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Whether an object's `metadata.labels` satisfy every requirement.
    pub fn matches(&self, object: &Value) -> bool {
        let labels = object.pointer("/metadata/labels");
        let label = |key: &str| labels.and_then(|l| l.get(key)).and_then(Value::as_str);
        self.requirements.iter().all(|(key, op)| match op {
            LabelOp::Eq(v) => label(key) == Some(v.as_str()),
            LabelOp::NotEq(v) => label(key) != Some(v.as_str()),
            LabelOp::In(vs) => label(key).is_some_and(|l| vs.iter().any(|v| v == l)),
            LabelOp::NotIn(vs) => label(key).is_none_or(|l| !vs.iter().any(|v| v == l)),
            LabelOp::Exists => label(key).is_some(),
            LabelOp::NotExists => label(key).is_none(),
        })
    }

    /// Builds the selector equivalent to a `matchLabels` map (services, scale status).
    pub fn from_match_labels(labels: &serde_json::Map<String, Value>) -> LabelSelector {
        LabelSelector {
            requirements: labels
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        LabelOp::Eq(v.as_str().unwrap_or_default().to_string()),
                    )
                })
                .collect(),
        }
    }
}

/// A parsed field selector.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldSelector {
    terms: Vec<(String, bool, String)>,
}

impl FieldSelector {
    pub fn parse(input: &str, ty: &ResourceType) -> Result<FieldSelector, String> {
        let mut terms = Vec::new();
        for part in input.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (field, equal, value) = if let Some((f, v)) = part.split_once("!=") {
                (f, false, v)
            } else if let Some((f, v)) = part.split_once("==") {
                (f, true, v)
            } else if let Some((f, v)) = part.split_once('=') {
                (f, true, v)
            } else {
                return Err(format!(
                    "invalid selector: '{input}'; can't understand '{part}'"
                ));
            };
            let field = field.trim();
            if !ty.supports_field(field) {
                return Err(format!("field label not supported: {field}"));
            }
            terms.push((field.to_string(), equal, value.trim().to_string()));
        }
        Ok(FieldSelector { terms })
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    pub fn matches(&self, object: &Value) -> bool {
        self.terms
            .iter()
            .all(|(field, equal, value)| (field_value(object, field) == *value) == *equal)
    }
}

/// The string value of a field label (missing fields read as "", like the API server).
fn field_value(object: &Value, field: &str) -> String {
    let path = match field {
        "source" => "/source/component".to_string(),
        _ => format!("/{}", field.replace('.', "/")),
    };
    match object.pointer(&path) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|i| i.get("ip").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(","),
        _ if field == "spec.unschedulable" || field == "spec.hostNetwork" => "false".into(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn label_selectors() {
        let obj = json!({"metadata": {"labels": {"app": "web", "tier": "front"}}});
        let cases = [
            ("", true),
            ("app=web", true),
            ("app==web", true),
            ("app!=web", false),
            ("app=db", false),
            ("app in (web,db)", true),
            ("app notin (web)", false),
            ("app", true),
            ("!app", false),
            ("!missing", true),
            ("missing", false),
            ("app=web,tier=front", true),
            ("app=web,tier=back", false),
            ("missing!=x", true),
            ("missing notin (x)", true),
        ];
        for (sel, want) in cases {
            let parsed = LabelSelector::parse(sel).unwrap_or_else(|e| panic!("{sel}: {e}"));
            assert_eq!(parsed.matches(&obj), want, "{sel}");
        }
    }

    #[test]
    fn malformed_label_selectors() {
        for (sel, msg) in [
            (
                "app in (a",
                "unable to parse requirement: found '', expected: ',' or ')'",
            ),
            ("app=", ""),
            (
                "=x",
                "unable to parse requirement: found '=', expected: identifier",
            ),
            (
                "app in a",
                "unable to parse requirement: found 'a', expected: '('",
            ),
            (
                "a b",
                "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt",
            ),
        ] {
            match LabelSelector::parse(sel) {
                Ok(_) => assert!(msg.is_empty(), "{sel} should fail"),
                Err(e) => assert_eq!(e, msg, "{sel}"),
            }
        }
    }

    #[test]
    fn field_selectors() {
        let registry = crate::resources::Registry::builtin();
        let pods = registry
            .by_path("", "v1", "pods")
            .and_then(|id| registry.get(id))
            .cloned()
            .unwrap_or_else(|| panic!("pods"));
        let pod = json!({"metadata": {"name": "p", "namespace": "n"}, "spec": {"nodeName": "w1"}, "status": {"phase": "Running"}});
        for (sel, want) in [
            ("metadata.name=p", true),
            ("spec.nodeName!=w1", false),
            ("status.phase==Running,metadata.namespace=n", true),
        ] {
            assert_eq!(
                FieldSelector::parse(sel, &pods).map(|s| s.matches(&pod)),
                Ok(want),
                "{sel}"
            );
        }
        assert_eq!(
            FieldSelector::parse("spec.foo=x", &pods),
            Err("field label not supported: spec.foo".into())
        );
        assert!(FieldSelector::parse("nonsense", &pods).is_err());
    }
}
