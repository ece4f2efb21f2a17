# NixOS VM test: boots a machine with services.acorn, waits for the notify-ready unit, reaches
# /readyz over HTTPS pinned to the appliance CA, reads the setup link from the journal, runs the
# backup service once and reloads (SIGHUP). `nix flake check` or `nix build .#checks.x86_64-linux.vm`.
{
  pkgs,
  module,
}:

pkgs.testers.runNixOSTest {
  name = "acorn";
  nodes.machine =
    { ... }:
    {
      imports = [ module ];
      virtualisation.memorySize = 2048;
      services.acorn = {
        enable = true;
        openFirewall = true;
        kekFile = "/etc/acorn/kek";
        settings.server.public_hostnames = [ "machine" ];
      };
      # A test-only key; a real one is made with `head -c32 /dev/urandom | base64`.
      environment.etc."acorn/kek" = {
        text = "c2l4dGVlbiBieXRlcyBvZiBub3Qgc28gc2VjcmV0IGs=";
        mode = "0400";
      };
      environment.systemPackages = [ pkgs.curl ];
    };

  testScript = ''
    machine.wait_for_unit("acorn.service")
    machine.wait_until_succeeds("curl --fail --silent --insecure https://localhost:8443/readyz")
    machine.succeed("runuser -u acorn -- acorn cert show --state-dir /var/lib/acorn | sed -n '/BEGIN/,/END/p' > /tmp/ca.pem")
    machine.succeed("curl --fail --cacert /tmp/ca.pem --resolve machine:8443:127.0.0.1 https://machine:8443/readyz")
    machine.succeed("journalctl -u acorn.service | grep -q setup_url")
    machine.succeed("systemctl start acorn-backup.service")
    machine.succeed("ls /var/backups/acorn/acorn-*.redb.manifest.json")
    machine.succeed("systemctl reload acorn.service")
    machine.succeed("curl --fail --cacert /tmp/ca.pem --resolve machine:8443:127.0.0.1 https://machine:8443/readyz")
    machine.succeed("systemd-analyze security acorn.service --threshold=20")
  '';
}
