// Command zitadel-op runs the zitadel/oidc example OpenID provider (its
// in-memory storage and login page, as the module ships them) for the
// end-to-end tests: tests/zitadel_test.go builds it (this directory is a
// module of its own, so the gateway's module does not depend on zitadel)
// and runs
//
//	zitadel-op <port> <redirect URI>
//
// It prints "ready" once it listens on 127.0.0.1:<port>.
package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"

	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: zitadel-op <port> <redirect URI>")
		os.Exit(2)
	}
	issuer := fmt.Sprintf("http://127.0.0.1:%s/", os.Args[1])
	storage.RegisterClients(storage.WebClient("web", "secret", os.Args[2]))
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	router := exampleop.SetupServer(issuer, storage.NewStorage(storage.NewUserStore(issuer)), logger, false)
	l, err := net.Listen("tcp", "127.0.0.1:"+os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("ready")
	if err := http.Serve(l, router); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
