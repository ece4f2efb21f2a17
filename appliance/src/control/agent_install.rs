//! Install instructions for a cluster's agent: the Helm command and the equivalent plain manifest.
