//! Findings: what the analyzers of `acorn-findings` report about a cluster (issue #9).
//! Being built; the types arrive with the analyzers.
