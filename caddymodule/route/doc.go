// Package route holds the route kinds of token_revocation: the revocation
// and logout endpoints it intercepts. Each kind is one value in Kinds
// (kinds.go), in a file named after it, that reads its API's wire format
// into a revocation (a Call), answers it, and says which options and
// checks it needs. A kind reaches the handler only through Env: the
// engine's keys, checker and recorder, the token settings and a few
// services; it never names the Handler, which compiles the routes and
// serves them (package caddymodule).
package route
