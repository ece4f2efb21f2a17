# NixOS module: services.acorn, the same service as systemd/acorn.service (the sandbox comes
# from ./hardening.nix, which CI compares with that unit) plus the daily backup timer.
#
#   services.acorn = {
#     enable = true;
#     kekFile = "/etc/acorn/kek";            # 32 random bytes (raw, hex or base64), root-only
#     openFirewall = true;
#     settings.server.public_hostnames = [ "acorn.example.internal" ];
#   };
#
# `settings` is acorn.toml as Nix (freeform: every key of the configuration reference in
# README.md works; the common ones are typed below). The file lands in the world-readable Nix
# store: give secrets as files (`client_secret_file`, `api_key_file`, `kekFile`), never inline.
{
  config,
  lib,
  pkgs,
  ...
}:

let
  cfg = config.services.acorn;
  inherit (lib) mkOption mkEnableOption mkIf types;
  settingsFormat = pkgs.formats.toml { };
  configFile = settingsFormat.generate "acorn.toml" cfg.settings;
  acorn = lib.getExe cfg.package;
  hardening = import ./hardening.nix;
  listenPort = lib.toInt (lib.last (lib.splitString ":" cfg.settings.server.listen));
in
{
  options.services.acorn = {
    enable = mkEnableOption "Acorn, the self-hosted Kubernetes troubleshooting appliance";

    package = mkOption {
      type = types.package;
      default = pkgs.callPackage ./package.nix { };
      defaultText = lib.literalExpression "pkgs.callPackage ./nix/package.nix { }";
      description = "The acorn package (its binary `acorn` is the service and the ops verbs).";
    };

    settings = mkOption {
      description = ''
        acorn.toml (configuration version 1), mirroring the configuration struct: sections
        server, tls, backup, log, identity, oidc, clusters, gateway. State lives in
        /var/lib/acorn (StateDirectory); do not set state_dir.
      '';
      default = { };
      type = types.submodule {
        freeformType = settingsFormat.type;
        options = {
          version = mkOption {
            type = types.int;
            default = 1;
            description = "Configuration format version.";
          };
          server.listen = mkOption {
            type = types.str;
            default = "0.0.0.0:8443";
            description = "HTTPS listen address (a port below 1024 needs CAP_NET_BIND_SERVICE: add it with serviceConfig).";
          };
          server.public_hostnames = mkOption {
            type = types.listOf types.str;
            default = [ ];
            description = "Names clients use to reach the appliance; they go into links and the certificate.";
          };
          log.level = mkOption {
            type = types.str;
            default = "info";
            description = "Log filter (tracing env-filter syntax).";
          };
          log.format = mkOption {
            type = types.str;
            default = "json";
            description = "auto, human or json (the journal keeps JSON lines searchable).";
          };
        };
      };
    };

    kekFile = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "/etc/acorn/kek";
      description = ''
        Key-encryption key of the stored secrets (32 bytes, raw, hex or base64), handed to the
        service as the systemd credential `acorn-kek` (LoadCredential). Keep it outside the Nix
        store and back it up apart from the store backups. When null, the key is generated into
        the store, and a store backup alone then decrypts every secret.
      '';
    };

    openFirewall = mkOption {
      type = types.bool;
      default = false;
      description = "Open the HTTPS port of settings.server.listen in the firewall.";
    };

    backup = {
      enable = mkOption {
        type = types.bool;
        default = true;
        description = "Take an online backup on a timer (acorn-backup.timer), keeping the newest `keep`.";
      };
      interval = mkOption {
        type = types.str;
        default = "daily";
        description = "When to back up: a systemd OnCalendar expression.";
      };
      dir = mkOption {
        type = types.str;
        default = "/var/backups/acorn";
        description = "Directory of the backups (acorn-<UTC time>.redb and its manifest).";
      };
      keep = mkOption {
        type = types.ints.positive;
        default = 7;
        description = "How many backups to keep in `dir`.";
      };
    };
  };

  config = mkIf cfg.enable {
    warnings = lib.optional (cfg.kekFile == null) ''
      services.acorn.kekFile is not set: Acorn keeps the key that encrypts its secrets in the
      store itself, so a backup alone decrypts them. Set kekFile to a root-only file.
    '';

    users.users.acorn = {
      isSystemUser = true;
      group = "acorn";
      home = "/var/lib/acorn";
      description = "Acorn appliance";
    };
    users.groups.acorn = { };

    # The server's sandbox can only write where a directory existed when it started.
    systemd.tmpfiles.rules = [ "d ${cfg.backup.dir} 0700 acorn acorn -" ];

    environment.systemPackages = [ cfg.package ];

    networking.firewall.allowedTCPPorts = mkIf cfg.openFirewall [ listenPort ];

    systemd.services.acorn = {
      description = "Acorn Kubernetes troubleshooting appliance";
      wantedBy = [ "multi-user.target" ];
      wants = [ "network-online.target" ];
      after = [ "network-online.target" ];
      restartTriggers = [ configFile ];
      serviceConfig =
        hardening
        // {
          Type = "notify";
          NotifyAccess = "main";
          ExecStart = "${acorn} serve --config ${configFile}";
          ExecReload = "${pkgs.coreutils}/bin/kill -HUP $MAINPID";
          WatchdogSec = "30s";
          Restart = "on-failure";
          RestartSec = "5s";
          TimeoutStartSec = "5min";
          TimeoutStopSec = "30s";
          OOMPolicy = "stop";
          LimitNOFILE = 65536;
          User = "acorn";
          Group = "acorn";
          StateDirectory = "acorn";
          StateDirectoryMode = "0700";
          ReadWritePaths = [ "-${cfg.backup.dir}" ];
          UMask = "0077";
        }
        // lib.optionalAttrs (cfg.kekFile != null) {
          LoadCredential = "acorn-kek:${cfg.kekFile}";
        };
    };

    systemd.services.acorn-backup = mkIf cfg.backup.enable {
      description = "Acorn online backup";
      after = [ "acorn.service" ];
      serviceConfig =
        hardening
        // {
          Type = "oneshot";
          ExecStart = "${acorn} backup --config ${configFile} --dir ${cfg.backup.dir} --keep ${toString cfg.backup.keep}";
          User = "acorn";
          Group = "acorn";
          StateDirectory = "acorn";
          StateDirectoryMode = "0700";
          ReadWritePaths = [ cfg.backup.dir ];
          UMask = "0077";
          Nice = 10;
          IOSchedulingClass = "idle";
          PrivateNetwork = true;
          IPAddressDeny = "any";
          RestrictAddressFamilies = [ "AF_UNIX" ];
        };
    };

    systemd.timers.acorn-backup = mkIf cfg.backup.enable {
      description = "Acorn online backup";
      wantedBy = [ "timers.target" ];
      timerConfig = {
        OnCalendar = cfg.backup.interval;
        RandomizedDelaySec = "30min";
        AccuracySec = "1min";
        Persistent = true;
      };
    };
  };
}
