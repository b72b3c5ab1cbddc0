// Command buildcfg reads xcaddy.json, the pinned description of the Caddy
// binary this repository ships, and prints the arguments for
// `xcaddy build`, one per line, so that scripts/build can run xcaddy without
// a JSON tool:
//
//	mapfile -t args < <(go run ./internal/buildcfg -output bin/caddy xcaddy.json)
//	go tool xcaddy build "${args[@]}"
//
// xcaddy.json has this shape:
//
//	{
//	  "caddy_version": "v2.11.9",
//	  "output": "bin/caddy",
//	  "plugins": [
//	    {"module": "github.com/caddy-token-revocation/caddy-token-revocation", "replace": "."},
//	    {"module": "github.com/example/other-plugin", "version": "v1.2.3"}
//	  ]
//	}
//
// A plugin with a local "replace" directory and no "version" is given the
// zero pseudo-version v0.0.0-00010101000000-000000000000: without a version
// xcaddy runs `go get module@latest`, which needs a version list from the
// module proxy and fails for a module that was never published. Relative
// "replace" paths are resolved against the directory holding xcaddy.json.
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

// zeroPseudoVersion is the version given to plugins built from a local
// directory (the same one `go mod edit -replace` implies for an unpublished
// module).
const zeroPseudoVersion = "v0.0.0-00010101000000-000000000000"

// Config is the content of xcaddy.json.
type Config struct {
	// CaddyVersion is the Caddy version to build (a tag such as "v2.11.9").
	CaddyVersion string `json:"caddy_version"`
	// Output is the binary to write, relative to the directory holding
	// xcaddy.json. The -output flag overrides it. Optional.
	Output string `json:"output,omitempty"`
	// Plugins are the modules to compile in besides Caddy's standard ones.
	Plugins []Plugin `json:"plugins"`
}

// Plugin is one module passed to xcaddy with --with.
type Plugin struct {
	// Module is the Go module path.
	Module string `json:"module"`
	// Version is the module version. Optional; defaults to the zero
	// pseudo-version when Replace is set.
	Version string `json:"version,omitempty"`
	// Replace is a local directory to build the module from. Optional.
	Replace string `json:"replace,omitempty"`
}

// Parse decodes and validates a config. Unknown fields are errors, so a typo
// does not silently drop a plugin.
func Parse(r io.Reader) (*Config, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var c Config
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("decoding: %w", err)
	}
	if dec.More() {
		return nil, errors.New("decoding: trailing data after the JSON object")
	}
	if c.CaddyVersion == "" {
		return nil, errors.New("caddy_version is required")
	}
	if err := checkArg("caddy_version", c.CaddyVersion); err != nil {
		return nil, err
	}
	if err := checkArg("output", c.Output); err != nil {
		return nil, err
	}
	for i, p := range c.Plugins {
		if p.Module == "" {
			return nil, fmt.Errorf("plugins[%d]: module is required", i)
		}
		for name, v := range map[string]string{"module": p.Module, "version": p.Version, "replace": p.Replace} {
			if err := checkArg(fmt.Sprintf("plugins[%d].%s", i, name), v); err != nil {
				return nil, err
			}
		}
		if strings.ContainsAny(p.Module, "@=") || strings.ContainsAny(p.Version, "@=") {
			return nil, fmt.Errorf("plugins[%d]: module and version must not contain '@' or '='", i)
		}
	}
	return &c, nil
}

// checkArg rejects values that cannot be printed one per line.
func checkArg(name, v string) error {
	if strings.ContainsAny(v, "\n\r\x00") {
		return fmt.Errorf("%s: must not contain line breaks or NUL", name)
	}
	return nil
}

// Args returns the arguments for `xcaddy build`. baseDir is the directory
// relative paths in the config are resolved against; output, when not empty,
// overrides the config's output.
func (c *Config) Args(baseDir, output string) ([]string, error) {
	args := []string{c.CaddyVersion}
	if output == "" && c.Output != "" {
		output = c.Output
		if !filepath.IsAbs(output) {
			output = filepath.Join(baseDir, output)
		}
	}
	if output != "" {
		abs, err := filepath.Abs(output)
		if err != nil {
			return nil, err
		}
		args = append(args, "--output", abs)
	}
	for _, p := range c.Plugins {
		with := p.Module
		version := p.Version
		if version == "" && p.Replace != "" {
			version = zeroPseudoVersion
		}
		if version != "" {
			with += "@" + version
		}
		if p.Replace != "" {
			repl := p.Replace
			if !filepath.IsAbs(repl) {
				repl = filepath.Join(baseDir, repl)
			}
			abs, err := filepath.Abs(repl)
			if err != nil {
				return nil, err
			}
			with += "=" + abs
		}
		args = append(args, "--with", with)
	}
	return args, nil
}

func main() {
	output := flag.String("output", "", "binary to write (overrides the config's \"output\")")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: buildcfg [-output file] [xcaddy.json]\n\nPrints the arguments for `xcaddy build`, one per line.\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	path := "xcaddy.json"
	switch flag.NArg() {
	case 0:
	case 1:
		path = flag.Arg(0)
	default:
		flag.Usage()
		os.Exit(2)
	}
	if err := run(path, *output, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "buildcfg: %s: %v\n", path, err)
		os.Exit(1)
	}
}

func run(path, output string, w io.Writer) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	cfg, err := Parse(bytes.NewReader(data))
	if err != nil {
		return err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	args, err := cfg.Args(filepath.Dir(abs), output)
	if err != nil {
		return err
	}
	_, err = io.WriteString(w, strings.Join(args, "\n")+"\n")
	return err
}
