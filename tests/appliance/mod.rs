//! The appliance core: first start and one-time links, own TLS, configuration, backup/restore/
//! verify, and the process lifecycle (systemd notify, graceful shutdown, refusals at start).

mod backup;
mod config;
mod first_start;
mod lifecycle;
mod tls;
