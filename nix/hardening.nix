# The sandbox of acorn.service, as NixOS `serviceConfig` values. The NixOS module applies it,
# and CI (`nix/ci/check-hardening.py`) checks that it is exactly the "# Sandbox." section of
# systemd/acorn.service, so the two ways of installing Acorn cannot drift apart.
# Plain data: evaluates without nixpkgs.
{
  NoNewPrivileges = true;
  ProtectSystem = "strict";
  ProtectHome = true;
  PrivateTmp = true;
  PrivateDevices = true;
  PrivateMounts = true;
  PrivateUsers = true;
  ProtectKernelTunables = true;
  ProtectKernelModules = true;
  ProtectKernelLogs = true;
  ProtectControlGroups = true;
  ProtectClock = true;
  ProtectHostname = true;
  ProtectProc = "invisible";
  ProcSubset = "pid";
  RestrictAddressFamilies = [ "AF_INET" "AF_INET6" "AF_UNIX" ];
  RestrictNamespaces = true;
  LockPersonality = true;
  MemoryDenyWriteExecute = true;
  RestrictRealtime = true;
  RestrictSUIDSGID = true;
  RemoveIPC = true;
  KeyringMode = "private";
  DevicePolicy = "closed";
  SystemCallArchitectures = "native";
  SystemCallFilter = [ "@system-service" "~@privileged @resources" ];
  SystemCallErrorNumber = "EPERM";
  CapabilityBoundingSet = "";
  AmbientCapabilities = "";
}
