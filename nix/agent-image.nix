# The agent's OCI image, built by Nix without a Docker daemon: the static-enough Nix build of
# `acorn-agent` and nothing else (no shell, no package manager), running as the unprivileged
# uid the Helm chart expects (65532). `nix build .#agent-image` → a docker-archive tarball;
# `skopeo copy docker-archive:result docker://registry.example/acorn/acorn-agent:VERSION`.
{
  dockerTools,
  acorn-agent,
}:

dockerTools.buildLayeredImage {
  name = "acorn/acorn-agent";
  tag = acorn-agent.version;
  # Image contents are reproducible: no build time in the config.
  created = "1970-01-01T00:00:01Z";
  config = {
    Entrypoint = [ "${acorn-agent}/bin/acorn-agent" ];
    User = "65532:65532";
    ExposedPorts."8080/tcp" = { };
    Labels = {
      "org.opencontainers.image.title" = "acorn-agent";
      "org.opencontainers.image.version" = acorn-agent.version;
      "org.opencontainers.image.licenses" = "Apache-2.0";
    };
  };
}
