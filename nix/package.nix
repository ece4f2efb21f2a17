# One binary of this Cargo workspace: `acorn` (the appliance, the default) or `acorn-agent` (the
# in-cluster agent). `callPackage ./package.nix { }` / `{ pname = "acorn-agent"; }`.
#
# Built with rustplatform's vendored dependencies from Cargo.lock: no network in the build.
# Only ring's C code needs a compiler (stdenv's); no OpenSSL, no cmake, no pkg-config.
{
  lib,
  rustPlatform,
  pname ? "acorn",
  # `acorn version` prints it; a flake passes `self.shortRev or "dirty"`.
  gitCommit ? "unknown",
}:

let
  workspace = (lib.importTOML ../Cargo.toml).workspace.package;
in
rustPlatform.buildRustPackage {
  inherit pname;
  inherit (workspace) version;

  # The whole workspace (every member must be present for Cargo to load it), minus VCS files
  # and build output.
  src = lib.cleanSource ../.;
  cargoLock.lockFile = ../Cargo.lock;

  cargoBuildFlags = [ "--package" pname "--bin" pname ];
  # The tests boot real peers (Node's oidc-provider, Python's openai and mcp, kubectl) that are
  # not in the build sandbox; .ci/run runs them.
  doCheck = false;

  env.ACORN_GIT_COMMIT = gitCommit;

  meta = {
    description =
      if pname == "acorn-agent" then
        "Acorn's in-cluster agent: dials out to the appliance over WSS and runs the troubleshooting tools"
      else
        "Acorn: a self-hosted Kubernetes troubleshooting appliance in one binary";
    license = lib.licenses.asl20;
    mainProgram = pname;
    platforms = lib.platforms.linux;
  };
}
