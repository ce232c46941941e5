#!/usr/bin/env bash
# Builds Vault from this wrapper module in BUILD_DIR and installs the binary at OUTPUT:
#   tools/vault/build.sh BUILD_DIR OUTPUT
#
# Vault's go.mod replaces its api and sdk modules with directories of its own source tree, which a module
# dependency cannot see, so the released vault/sdk v0.9.2 stands in. That release panics at start on a check
# newer than Vault v1.14: a path that defines a create operation must define an existence check, and Vault
# v1.14's system backend has one that does not. The build therefore uses a copy of the sdk with that panic
# removed; Vault v1.14's own sdk tree did not have it.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
build_dir="$1"
output="$2"

rm -rf "$build_dir"
mkdir -p "$build_dir"
cp "$here/go.mod" "$here/go.sum" "$here/main.go" "$build_dir/"
cd "$build_dir"

echo "downloading modules"
go mod download github.com/hashicorp/vault/sdk
sdk_dir=$(go list -m -f '{{.Dir}}' github.com/hashicorp/vault/sdk)
cp -r "$sdk_dir" sdk
chmod -R u+w sdk
grep -q 'defines a CreateOperation but no ExistenceCheck' sdk/framework/backend.go ||
  { echo "the sdk no longer has the expected existence check; update tools/vault/build.sh" >&2; exit 1; }
sed -i '/defines a CreateOperation but no ExistenceCheck/d' sdk/framework/backend.go
go mod edit -replace github.com/hashicorp/vault/sdk=./sdk

echo "compiling (the log stays quiet until the link step)"
go build -mod=mod -trimpath -o "$output.partial" .
mv "$output.partial" "$output"
echo "built $output"
