//! The builtin Kubernetes tools.
