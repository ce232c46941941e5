// Command vault builds HashiCorp Vault's server and CLI from its Go module, so the project's scripts can run
// a real Vault-API server without a download outside the Go module proxy.
package main

import (
	"os"

	"github.com/hashicorp/vault/command"
)

func main() {
	os.Exit(command.Run(os.Args[1:]))
}
