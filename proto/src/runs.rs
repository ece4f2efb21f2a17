//! Sessions, runs, run events, approvals and run search: the bodies of the runs API (issue #7).
//! Being built; the types arrive with the engine.
