//! Masking of secrets in text that leaves the cluster.
