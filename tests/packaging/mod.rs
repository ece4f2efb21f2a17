//! Installing Acorn like infrastructure (issue #11), with the real scripts and binaries:
//!
//! - `bundle.rs`: `packaging/bundle.sh` builds the air-gap bundle once per test run (from the
//!   static release binaries when they are present and of this commit, else from the debug
//!   binaries, which the test says); the tests unpack it, check SHA256SUMS, run `install.sh
//!   --root` twice (idempotent), start the installed binary to `/readyz`, uninstall and purge,
//!   and validate the agent's OCI layout and the SBOM.
//! - `upgrade.rs`: `acorn upgrade-check` and the start of the current binary on the fixture
//!   stores written by every earlier schema's own binary (`store/fixtures/appliance-schema-N`):
//!   backup first, migration, data still there; refusal of a store from a newer Acorn.
//! - `backup_rotation.rs`: `acorn backup --dir --keep`, what acorn-backup.timer runs daily.
//!
//! The systemd units and the Nix files are checked by `.ci/run` (systemd-analyze, nix/ci/check.py).

mod backup_rotation;
mod bundle;
mod upgrade;
