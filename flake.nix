{
  # Acorn as a flake: the two binaries, the agent's OCI image, the NixOS module and its VM test.
  # See docs/install.md ("NixOS") for what was built and checked where: CI here has no nixpkgs,
  # so it parses every .nix file and evaluates only what needs no nixpkgs (nix/ci/).
  description = "Acorn: a self-hosted Kubernetes troubleshooting appliance";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.05";

  outputs =
    { self, nixpkgs }:
    let
      systems = [ "x86_64-linux" ];
      forAll = f: nixpkgs.lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
      gitCommit = self.shortRev or self.dirtyShortRev or "unknown";
    in
    {
      packages = forAll (pkgs: rec {
        acorn = pkgs.callPackage ./nix/package.nix { inherit gitCommit; };
        acorn-agent = pkgs.callPackage ./nix/package.nix {
          pname = "acorn-agent";
          inherit gitCommit;
        };
        agent-image = pkgs.callPackage ./nix/agent-image.nix { inherit acorn-agent; };
        default = acorn;
      });

      nixosModules.acorn =
        { pkgs, ... }:
        {
          imports = [ ./nix/module.nix ];
          services.acorn.package = nixpkgs.lib.mkDefault self.packages.${pkgs.system}.acorn;
        };
      nixosModules.default = self.nixosModules.acorn;

      checks = forAll (pkgs: {
        vm = import ./nix/vm-test.nix {
          inherit pkgs;
          module = self.nixosModules.acorn;
        };
      });
    };
}
