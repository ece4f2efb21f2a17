//! The kinds the agent watches, and [`KeysOnly`], the decoded form of Secrets and ConfigMaps
//! that never holds a value.

use std::borrow::Cow;
use std::collections::BTreeMap;

use k8s_openapi::api::{apps, autoscaling, batch, core, discovery, networking, storage};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::core::{ApiResource, DynamicResourceScope};
use serde::de::IgnoredAny;
use serde::{Deserialize, Deserializer};
use serde_json::{Value, json};

/// How a kind is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decode {
    /// The whole object (then trimmed).
    Full,
    /// Metadata, `type`, `immutable` and the key names of `data`/`binaryData` only.
    KeysOnly,
}

/// One watched kind.
#[derive(Debug, Clone)]
pub struct Kind {
    /// Group, version, kind, plural.
    pub resource: ApiResource,
    /// Namespaced (watched per namespace when the include list is set) or cluster-scoped.
    pub namespaced: bool,
    /// How objects are decoded.
    pub decode: Decode,
}

impl Kind {
    /// `apps/v1/Deployment`, as metrics and logs name it.
    pub fn label(&self) -> String {
        format!("{}/{}", self.resource.api_version, self.resource.kind)
    }
}

fn kind<K>(namespaced: bool, decode: Decode) -> Kind
where
    K: kube::Resource<DynamicType = ()>,
{
    Kind {
        resource: ApiResource::erase::<K>(&()),
        namespaced,
        decode,
    }
}

/// Every kind of the snapshot (metrics are polled separately, see `super::metrics_poll`).
pub fn watched() -> Vec<Kind> {
    use Decode::{Full, KeysOnly};
    vec![
        kind::<core::v1::Namespace>(false, Full),
        kind::<core::v1::Node>(false, Full),
        kind::<core::v1::Pod>(true, Full),
        kind::<apps::v1::Deployment>(true, Full),
        kind::<apps::v1::ReplicaSet>(true, Full),
        kind::<apps::v1::StatefulSet>(true, Full),
        kind::<apps::v1::DaemonSet>(true, Full),
        kind::<batch::v1::Job>(true, Full),
        kind::<batch::v1::CronJob>(true, Full),
        kind::<core::v1::Service>(true, Full),
        kind::<core::v1::Endpoints>(true, Full),
        kind::<discovery::v1::EndpointSlice>(true, Full),
        kind::<networking::v1::Ingress>(true, Full),
        kind::<core::v1::PersistentVolumeClaim>(true, Full),
        kind::<core::v1::PersistentVolume>(false, Full),
        kind::<storage::v1::StorageClass>(false, Full),
        kind::<autoscaling::v2::HorizontalPodAutoscaler>(true, Full),
        kind::<core::v1::ConfigMap>(true, KeysOnly),
        kind::<core::v1::Secret>(true, KeysOnly),
        kind::<core::v1::Event>(true, Full),
    ]
}

/// A Secret or ConfigMap as decoded from the API server: the values of `data`, `stringData`
/// and `binaryData` are skipped by the JSON decoder ([`IgnoredAny`]) and never stored, copied or
/// logged; only their key names survive.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeysOnly {
    /// Metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Secret type (`Opaque`, `kubernetes.io/tls`, …).
    #[serde(default, rename = "type")]
    pub type_: Option<String>,
    /// `immutable`.
    #[serde(default)]
    pub immutable: Option<bool>,
    /// Key names of `data` (and of `stringData`, which a server never returns).
    #[serde(default, deserialize_with = "key_names")]
    pub data: Vec<String>,
    /// Key names of `binaryData`.
    #[serde(default, deserialize_with = "key_names")]
    pub binary_data: Vec<String>,
}

fn key_names<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let map = Option::<BTreeMap<String, IgnoredAny>>::deserialize(d)?;
    Ok(map.map(|m| m.into_keys().collect()).unwrap_or_default())
}

impl KeysOnly {
    /// The object as it leaves the agent.
    pub fn into_value(self, resource: &ApiResource) -> Value {
        let mut v = json!({
            "apiVersion": resource.api_version,
            "kind": resource.kind,
            "metadata": serde_json::to_value(&self.metadata).unwrap_or(Value::Null),
            "dataKeys": self.data,
        });
        if let Some(map) = v.as_object_mut() {
            if let Some(t) = self.type_ {
                map.insert("type".into(), Value::String(t));
            }
            if let Some(i) = self.immutable {
                map.insert("immutable".into(), Value::Bool(i));
            }
            if !self.binary_data.is_empty() {
                map.insert("binaryDataKeys".into(), json!(self.binary_data));
            }
        }
        v
    }
}

impl kube::Resource for KeysOnly {
    type DynamicType = ApiResource;
    type Scope = DynamicResourceScope;

    fn group(dt: &ApiResource) -> Cow<'_, str> {
        dt.group.as_str().into()
    }

    fn version(dt: &ApiResource) -> Cow<'_, str> {
        dt.version.as_str().into()
    }

    fn kind(dt: &ApiResource) -> Cow<'_, str> {
        dt.kind.as_str().into()
    }

    fn api_version(dt: &ApiResource) -> Cow<'_, str> {
        dt.api_version.as_str().into()
    }

    fn plural(dt: &ApiResource) -> Cow<'_, str> {
        dt.plural.as_str().into()
    }

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_only_never_holds_values() {
        let raw = r#"{"apiVersion":"v1","kind":"Secret","type":"Opaque",
            "metadata":{"name":"db","namespace":"shop","resourceVersion":"9"},
            "data":{"password":"aHVudGVyMg==","user":"YWRtaW4="},"binaryData":{"b":"AA=="}}"#;
        let s: KeysOnly = serde_json::from_str(raw).unwrap();
        assert!(!format!("{s:?}").contains("aHVudGVyMg=="));
        let v = s.into_value(&ApiResource::erase::<core::v1::Secret>(&()));
        assert_eq!(v["dataKeys"], json!(["password", "user"]));
        assert_eq!(v["binaryDataKeys"], json!(["b"]));
        assert_eq!(v["type"], "Opaque");
        assert_eq!(v["metadata"]["resourceVersion"], "9");
        let empty: KeysOnly =
            serde_json::from_str(r#"{"metadata":{"name":"x"},"data":null}"#).unwrap();
        assert!(empty.data.is_empty());
    }

    #[test]
    fn the_watch_list_covers_the_troubleshooting_kinds() {
        let kinds: Vec<String> = watched().iter().map(Kind::label).collect();
        for k in [
            "v1/Pod",
            "apps/v1/Deployment",
            "v1/Secret",
            "v1/Event",
            "autoscaling/v2/HorizontalPodAutoscaler",
            "discovery.k8s.io/v1/EndpointSlice",
            "storage.k8s.io/v1/StorageClass",
        ] {
            assert!(kinds.contains(&k.to_string()), "{k}");
        }
        assert_eq!(kinds.len(), 20);
    }
}
