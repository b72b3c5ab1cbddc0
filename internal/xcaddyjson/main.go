// Command xcaddyjson reads xcaddy.json, the recipe of the Caddy binary
// this repository ships (Caddy's version, the plugins, the output), and
// prints the arguments of `xcaddy build` it stands for, one per line, so
// that scripts/build runs xcaddy without a JSON tool:
//
//	args=$(go run ./internal/xcaddyjson xcaddy.json)
//	mapfile -t args <<<"$args"
//	go tool xcaddy build "${args[@]}"
//
// -output FILE writes FILE instead of the recipe's output; -command prints
// the command line instead (`xcaddy build v2.11.9 --output bin/caddy
// --with ...`), as the README shows it. Paths are relative to the
// directory of xcaddy.json, which is where xcaddy must run (xcaddy makes
// them absolute itself).
//
// xcaddy.json has this shape:
//
//	{
//	  "caddy_version": "v2.11.9",
//	  "output": "bin/caddy",
//	  "plugins": [
//	    {"module": "github.com/caddy-token-revocation/caddy-token-revocation", "version": "v0.2.0", "replace": "."},
//	    {"module": "github.com/example/other-plugin", "version": "v1.2.3"}
//	  ]
//	}
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Recipe is the content of xcaddy.json.
type Recipe struct {
	// CaddyVersion is the Caddy release to build, such as "v2.11.9": the
	// one go.mod requires, so that the xcaddy build and `go build
	// ./cmd/caddy` compile the same Caddy (a test holds them equal).
	CaddyVersion string `json:"caddy_version"`
	// Output is the binary to write, relative to xcaddy.json's directory.
	Output string `json:"output"`
	// Plugins are the modules compiled in besides Caddy's standard ones.
	Plugins []Plugin `json:"plugins"`
}

// Plugin is one module given to xcaddy with --with.
type Plugin struct {
	// Module is the Go module path.
	Module string `json:"module"`
	// Version is the module's version, a tag or pseudo-version: a recipe
	// is pinned. Built from Replace, it is the version the binary reports
	// (`caddy list-modules --versions`); Go fetches nothing for it.
	Version string `json:"version"`
	// Replace is a local directory to build the module from, relative to
	// xcaddy.json's directory ("." is this checkout). Optional.
	Replace string `json:"replace,omitempty"`
}

// Parse decodes and checks a recipe. An unknown field is an error, so a
// misspelt one never drops a plugin silently.
func Parse(r io.Reader) (*Recipe, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var rc Recipe
	if err := dec.Decode(&rc); err != nil {
		return nil, fmt.Errorf("not a recipe: %v", err)
	}
	if dec.More() {
		return nil, errors.New("not a recipe: more than one JSON value")
	}
	if !strings.HasPrefix(rc.CaddyVersion, "v2.") {
		return nil, fmt.Errorf("caddy_version %q: want a Caddy 2 release such as v2.11.9 (go.mod's)", rc.CaddyVersion)
	}
	if rc.Output == "" {
		return nil, errors.New(`output is missing: the binary to write, such as "bin/caddy"`)
	}
	if len(rc.Plugins) == 0 {
		return nil, errors.New("plugins is empty: a recipe without plugins is plain Caddy")
	}
	for i, p := range rc.Plugins {
		if p.Module == "" || strings.ContainsAny(p.Module, "@= ") {
			return nil, fmt.Errorf("plugins[%d]: module %q: want a Go module path", i, p.Module)
		}
		if !strings.HasPrefix(p.Version, "v") || strings.ContainsAny(p.Version, "@= ") {
			return nil, fmt.Errorf("plugins[%d] (%s): version %q: want a tag or pseudo-version such as v1.2.3 (v0.0.0-00010101000000-000000000000 for an unpublished module built from replace)", i, p.Module, p.Version)
		}
	}
	return &rc, nil
}

// Args returns the arguments of `xcaddy build` the recipe stands for,
// writing output (the recipe's when "").
func (rc *Recipe) Args(output string) []string {
	if output == "" {
		output = rc.Output
	}
	args := []string{rc.CaddyVersion, "--output", output}
	for _, p := range rc.Plugins {
		with := p.Module + "@" + p.Version
		if p.Replace != "" {
			with += "=" + p.Replace
		}
		args = append(args, "--with", with)
	}
	return args
}

// Command is the xcaddy command line the recipe stands for, run from
// xcaddy.json's directory.
func (rc *Recipe) Command() string {
	return "xcaddy build " + strings.Join(rc.Args(""), " ")
}

// ReadRecipe reads and checks the recipe in file.
func ReadRecipe(file string) (*Recipe, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	rc, err := Parse(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %v", filepath.Base(file), err)
	}
	return rc, nil
}

func main() {
	output := flag.String("output", "", "the binary to write (default: the recipe's output)")
	command := flag.Bool("command", false, "print the xcaddy command line instead of its arguments")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: xcaddyjson [-output FILE] [-command] xcaddy.json")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	rc, err := ReadRecipe(flag.Arg(0))
	if err != nil {
		fmt.Fprintln(os.Stderr, "xcaddyjson:", err)
		os.Exit(1)
	}
	if *command {
		fmt.Println(rc.Command())
		return
	}
	for _, a := range rc.Args(*output) {
		fmt.Println(a)
	}
}
