# What CI can evaluate without nixpkgs (which cannot be fetched there): the NixOS module run
# against a tiny stand-in of nixpkgs' `lib` and `pkgs`, and the flake's outputs called with a
# stand-in nixpkgs. The stand-ins implement only what these files use, faithfully enough to
# produce the module's option tree and the systemd units it would declare; check.py compares
# them with the issue's option list and with systemd/*.service.
#
#   nix-instantiate --eval --strict --json nix/ci/eval.nix
let
  lib = rec {
    mkOption = attrs: attrs // { _type = "option"; };
    mkEnableOption = name: mkOption {
      type = types.bool;
      default = false;
      description = "Whether to enable ${name}.";
    };
    mkIf = condition: content: { _type = "if"; inherit condition content; };
    mkDefault = v: v;
    optional = c: x: if c then [ x ] else [ ];
    optionalAttrs = c: a: if c then a else { };
    getExe = p: "${p.outPath}/bin/${p.meta.mainProgram}";
    literalExpression = text: { _type = "literalExpression"; inherit text; };
    toInt = s: builtins.fromJSON s;
    last = l: builtins.elemAt l (builtins.length l - 1);
    splitString = sep: s: builtins.filter builtins.isString (builtins.split sep s);
    genAttrs = names: f: builtins.listToAttrs (map (n: { name = n; value = f n; }) names);
    types = {
      bool = "bool";
      str = "str";
      int = "int";
      package = "package";
      ints.positive = "positive int";
      nullOr = t: "null or ${t}";
      listOf = t: "list of ${t}";
      submodule = m: { submodule = m; };
    };
  };

  package = {
    outPath = "/nix/store/00000000000000000000000000000000-acorn-0.1.0";
    meta.mainProgram = "acorn";
  };
  pkgs = {
    formats.toml = _: {
      type = "toml value";
      generate = name: _value: "/nix/store/00000000000000000000000000000000-${name}";
    };
    callPackage = _: _: package;
    coreutils = "/nix/store/00000000000000000000000000000000-coreutils";
    system = "x86_64-linux";
  };

  # A configuration as a user would write it, merged with the settings defaults by hand (the
  # stand-in has no module system).
  config.services.acorn = {
    enable = true;
    inherit package;
    settings = {
      version = 1;
      server.listen = "0.0.0.0:8443";
      server.public_hostnames = [ "acorn.example.internal" ];
      log = { level = "info"; format = "json"; };
    };
    kekFile = "/etc/acorn/kek";
    openFirewall = true;
    backup = { enable = true; interval = "daily"; dir = "/var/backups/acorn"; keep = 7; };
  };

  module = import ../module.nix { inherit config lib pkgs; };

  # mkIf resolved the way the module system would, for an enabled service.
  resolve = v:
    if builtins.isAttrs v && (v._type or "") == "if" then
      (if v.condition then resolve v.content else null)
    else if builtins.isAttrs v && !(v ? outPath) then
      builtins.mapAttrs (_: resolve) v
    else v;

  # Option paths (`backup.keep`, `settings`, …) under services.acorn.
  optionPaths = prefix: attrs:
    builtins.concatLists (map (name:
      let v = attrs.${name}; path = if prefix == "" then name else "${prefix}.${name}"; in
      if (v._type or "") == "option" then [ path ] else optionPaths path v
    ) (builtins.attrNames attrs));

  # The flake's outputs, called with a stand-in nixpkgs: which attributes it defines.
  flake = import ../../flake.nix;
  outputs = flake.outputs {
    self = outputs // { shortRev = "0123456"; };
    nixpkgs = { inherit lib; legacyPackages.x86_64-linux = pkgs; };
  };
in
{
  options = optionPaths "" module.options.services.acorn;
  settingsOptions = optionPaths "" (module.options.services.acorn.settings.type.submodule.options);
  config = resolve module.config;
  hardening = import ../hardening.nix;
  flake = {
    inherit (flake) description;
    inputs = builtins.attrNames flake.inputs;
    packages = builtins.attrNames outputs.packages.x86_64-linux;
    nixosModules = builtins.attrNames outputs.nixosModules;
    checks = builtins.attrNames outputs.checks.x86_64-linux;
  };
}
