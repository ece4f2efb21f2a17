//! The egress guard of outbound webhooks, for appliances inside private networks.
//!
//! Rules (checked when a subscription is saved and again before every attempt):
//! - `https://` only, unless the host is on `webhooks.allow_hosts`; no credentials in the URL;
//! - cloud metadata endpoints are always refused, by name (`metadata.google.internal`, …) and
//!   by address (169.254.169.254, 169.254.170.2, 100.100.100.200, 192.0.0.192, fd00:ec2::254),
//!   allow-list or not;
//! - private, loopback, link-local, shared (CGNAT), unique-local and other non-public addresses
//!   only for hosts on the allow-list;
//! - the check applies to the **resolved** addresses: [`GuardedResolver`] is the HTTP client's
//!   resolver, so the connection goes only to an address that passed (a name that resolves to a
//!   public address at save time and to 10.0.0.5 later — DNS rebinding — is refused at connect);
//!   IP-literal URLs never reach a resolver and are checked by [`EgressPolicy::check_url`];
//! - redirects are never followed and proxies from the environment are not used (the client is
//!   built with both off), so nothing else decides where a request goes.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

/// Host names of cloud metadata services.
const METADATA_HOSTS: &[&str] = &[
    "metadata.google.internal",
    "metadata.goog",
    "metadata",
    "instance-data",
    "instance-data.ec2.internal",
    "metadata.azure.internal",
];

/// Addresses of cloud metadata services (AWS/GCP/Azure/OpenStack, AWS ECS, Alibaba, Oracle,
/// AWS IPv6).
fn is_metadata_ip(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => [
            Ipv4Addr::new(169, 254, 169, 254),
            Ipv4Addr::new(169, 254, 170, 2),
            Ipv4Addr::new(100, 100, 100, 200),
            Ipv4Addr::new(192, 0, 0, 192),
        ]
        .contains(&v4),
        IpAddr::V6(v6) => v6 == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254),
    }
}

/// Whether an address is outside the public internet (what only allow-listed hosts may use).
pub fn is_non_public(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (64..128).contains(&o[1]))
                || (o[0] == 198 && (18..20).contains(&o[1]))
                || o[0] >= 240
                || (o[0] == 192 && o[1] == 0 && o[2] == 0)
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] == 0x2001 && s[1] == 0x0db8)
        }
    }
}

/// The deployment's egress rules.
#[derive(Debug, Clone, Default)]
pub struct EgressPolicy {
    allow_hosts: Vec<String>,
}

fn bare(host: &str) -> String {
    host.trim_matches(['[', ']'])
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

impl EgressPolicy {
    pub fn new(allow_hosts: &[String]) -> EgressPolicy {
        EgressPolicy {
            allow_hosts: allow_hosts.iter().map(|h| bare(h)).collect(),
        }
    }

    /// Whether `host` is on the allow-list.
    pub fn allowed(&self, host: &str) -> bool {
        let host = bare(host);
        self.allow_hosts.contains(&host)
    }

    /// Checks an address `host` resolved (or is).
    pub fn check_ip(&self, host: &str, ip: IpAddr) -> Result<(), String> {
        if is_metadata_ip(ip) {
            return Err(format!(
                "{ip} is a cloud metadata address; webhooks never go there"
            ));
        }
        if is_non_public(ip) && !self.allowed(host) {
            return Err(format!(
                "{host} is {ip}, a private or local address; add {host} to webhooks.allow_hosts to allow it"
            ));
        }
        Ok(())
    }

    /// Checks a webhook URL without resolving it (see the module docs).
    pub fn check_url(&self, url: &str) -> Result<reqwest::Url, String> {
        let parsed = reqwest::Url::parse(url).map_err(|e| format!("`{url}` is not a URL: {e}"))?;
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err("credentials in the URL are not allowed; the endpoint verifies the signature instead".into());
        }
        let host = parsed
            .host_str()
            .map(bare)
            .filter(|h| !h.is_empty())
            .ok_or("the URL has no host")?;
        match parsed.scheme() {
            "https" => {}
            "http" if self.allowed(&host) => {}
            "http" => {
                return Err(format!(
                    "plain http is allowed only for hosts in webhooks.allow_hosts; {host} is not one: use https"
                ));
            }
            other => return Err(format!("scheme {other} is not allowed; use https")),
        }
        if METADATA_HOSTS.contains(&host.as_str()) {
            return Err(format!(
                "{host} is a cloud metadata service; webhooks never go there"
            ));
        }
        if let Ok(ip) = host.parse::<IpAddr>() {
            self.check_ip(&host, ip)?;
        }
        Ok(parsed)
    }
}

/// The HTTP client's resolver: resolves with the system resolver, then keeps only addresses
/// that pass [`EgressPolicy::check_ip`]; none left is a refusal (the attempt fails without a
/// connection).
pub struct GuardedResolver {
    pub policy: Arc<EgressPolicy>,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = Arc::clone(&self.policy);
        let host = name.as_str().to_owned();
        Box::pin(async move {
            if METADATA_HOSTS.contains(&bare(&host).as_str()) {
                return Err(format!("egress refused: {host} is a cloud metadata service").into());
            }
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut refusals = Vec::new();
            let allowed: Vec<SocketAddr> = resolved
                .into_iter()
                .filter(|a| match policy.check_ip(&host, a.ip()) {
                    Ok(()) => true,
                    Err(why) => {
                        refusals.push(why);
                        false
                    }
                })
                .collect();
            if allowed.is_empty() {
                let why = refusals
                    .into_iter()
                    .next()
                    .unwrap_or_else(|| format!("{host} did not resolve"));
                return Err(format!("egress refused: {why}").into());
            }
            let addrs: reqwest::dns::Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_rules() {
        let p = EgressPolicy::new(&["hooks.internal".into(), "127.0.0.1".into()]);
        let ok = |u: &str| p.check_url(u).map(drop);
        assert!(ok("https://hooks.example.com/x").is_ok());
        assert!(ok("http://hooks.internal:8080/x").is_ok());
        assert!(ok("http://127.0.0.1:9/x").is_ok());
        for (url, why) in [
            ("http://hooks.example.com/x", "plain http"),
            ("ftp://hooks.example.com/x", "scheme ftp"),
            ("https://user:pw@hooks.example.com/", "credentials"),
            ("https://169.254.169.254/latest/meta-data", "metadata"),
            ("https://[fd00:ec2::254]/", "metadata"),
            ("https://[::ffff:169.254.169.254]/", "metadata"),
            ("https://metadata.google.internal/", "metadata"),
            ("https://10.1.2.3/", "private"),
            ("https://192.168.1.1/", "private"),
            ("https://[::1]/", "private"),
            ("https://[fe80::1]/", "private"),
            ("https://100.64.0.1/", "private"),
            ("not a url", "not a URL"),
        ] {
            let err = ok(url).unwrap_err();
            assert!(err.contains(why), "{url}: {err}");
        }
        // The allow-list never opens metadata addresses.
        let all = EgressPolicy::new(&["169.254.169.254".into()]);
        assert!(all.check_url("http://169.254.169.254/").is_err());
    }

    #[tokio::test]
    async fn the_resolver_refuses_names_that_resolve_to_private_addresses() {
        use reqwest::dns::Resolve;
        let guarded = GuardedResolver {
            policy: Arc::new(EgressPolicy::default()),
        };
        let name: reqwest::dns::Name = "localhost".parse().unwrap();
        let err = match guarded.resolve(name).await {
            Ok(_) => panic!("localhost passed"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains("private or local"), "{err}");
        let open = GuardedResolver {
            policy: Arc::new(EgressPolicy::new(&["localhost".into()])),
        };
        let addrs: Vec<SocketAddr> = open
            .resolve("localhost".parse().unwrap())
            .await
            .unwrap()
            .collect();
        assert!(addrs.iter().all(|a| a.ip().is_loopback()), "{addrs:?}");
    }
}
