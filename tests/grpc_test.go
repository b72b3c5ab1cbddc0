package tests

import (
	"context"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding/gzip"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// TestGRPCCompressedMessages: a gRPC service (grpc-go's stock server)
// behind the gateway (reverse_proxy h2c://) takes a token in its request
// message. A client that compresses its messages (grpc-encoding: gzip,
// which the server decompresses before the service) carried a revoked
// token past 25db82e's gateway, which read application/grpc bodies raw:
// the service read it. Now the call fails and the service never sees
// it; a live token gets through either way (the control).
func TestGRPCCompressedMessages(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	desc := grpc.ServiceDesc{
		ServiceName: "tokens.Tokens",
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{{MethodName: "Check", Handler: func(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			in := new(wrapperspb.StringValue)
			if err := dec(in); err != nil {
				return nil, err
			}
			mu.Lock()
			seen = append(seen, in.Value)
			mu.Unlock()
			return wrapperspb.String("ok"), nil
		}}},
	}
	srv := grpc.NewServer()
	srv.RegisterService(&desc, struct{}{})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(srv.Stop)

	c := startCaddy(t, `{
	servers {
		protocols h1 h2 h2c
	}
}
http:// {
	token_revocation {
		store embedded `+strconv.Quote(filepath.Join(t.TempDir(), "denylist.db"))+`
		revoke /oauth/revoke
	}
	reverse_proxy h2c://`+l.Addr().String()+`
}`)
	gw := &gatewayedOracle{o: &oracle{name: "grpc", addr: l.Addr().String()}, c: c}
	revoked, live := "revoked"+randomHex(12), "livetoken"+randomHex(12)
	gw.revoke(t, revoked)

	call := func(addr, tok string, compress bool) error {
		conn, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return err
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var opts []grpc.CallOption
		if compress {
			opts = append(opts, grpc.UseCompressor(gzip.Name))
		}
		return conn.Invoke(ctx, "/tokens.Tokens/Check", wrapperspb.String(tok), new(wrapperspb.StringValue), opts...)
	}
	read := func(tok string) bool {
		mu.Lock()
		defer mu.Unlock()
		return slices.Contains(seen, tok)
	}
	if err := call(l.Addr().String(), revoked, true); err != nil || !read(revoked) {
		t.Fatalf("directly, compressed: %v, the service read the token: %v (the test proves nothing)", err, read(revoked))
	}
	gwAddr := "127.0.0.1:" + strconv.Itoa(c.HTTPPort)
	for _, compress := range []bool{false, true} {
		mu.Lock()
		seen = nil
		mu.Unlock()
		if err := call(gwAddr, revoked, compress); err == nil || read(revoked) {
			t.Errorf("compressed %v: the revoked token's call: error %v, the service read it: %v; want an error and not read", compress, err, read(revoked))
		}
		if err := call(gwAddr, live, compress); err != nil || !read(live) {
			t.Errorf("compressed %v: a live token's call: %v, read %v; want it through", compress, err, read(live))
		}
	}
}
