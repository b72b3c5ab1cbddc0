package tests

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"
)

// The README is a front page and the reference lives under docs/, so a
// section that moves must take its links along. These tests read the
// Markdown as GitHub renders it: links in code (fenced blocks, `spans`) are
// not links, and an #anchor is the slug GitHub gives a heading.

// mdLink matches an inline Markdown link or image: its target, without an
// optional "title".
var mdLink = regexp.MustCompile(`!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)`)

// mdHeading matches an ATX heading.
var mdHeading = regexp.MustCompile(`^#{1,6}\s+(.*?)\s*#*\s*$`)

// proseLines returns the lines of a Markdown file outside fenced blocks,
// their code spans blanked, numbered from 1 (0 for a fenced line).
func proseLines(t *testing.T, file string) ([]string, error) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	lines := strings.Split(string(b), "\n")
	out := make([]string, len(lines))
	inFence := false
	for i, l := range lines {
		if strings.HasPrefix(strings.TrimSpace(l), "```") {
			inFence = !inFence
			continue
		}
		if inFence {
			continue
		}
		out[i] = blankCodeSpans(l)
	}
	return out, nil
}

// blankCodeSpans returns line with its code spans (a run of backticks up to
// the next run of as many) blanked.
func blankCodeSpans(line string) string {
	b := []byte(line)
	run := func(i int) int {
		n := 0
		for i+n < len(b) && b[i+n] == '`' {
			n++
		}
		return n
	}
	for i := 0; i < len(b); {
		n := run(i)
		if n == 0 {
			i++
			continue
		}
		end := -1
		for j := i + n; j < len(b); {
			if m := run(j); m == n {
				end = j + m
				break
			} else if m > 0 {
				j += m
			} else {
				j++
			}
		}
		if end < 0 {
			i += n // an unclosed run is text
			continue
		}
		for k := i; k < end; k++ {
			b[k] = ' '
		}
		i = end
	}
	return string(b)
}

// githubSlug is the anchor GitHub gives a heading: its text as rendered,
// lower-cased, spaces turned into '-', every character but letters,
// digits, '-' and '_' dropped.
func githubSlug(heading string) string {
	heading = mdLink.ReplaceAllStringFunc(heading, func(s string) string {
		return s[strings.Index(s, "[")+1 : strings.LastIndex(s, "](")]
	})
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsNumber(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// anchors returns the anchors of a Markdown file's headings, a repeated
// one numbered as GitHub numbers it (slug, slug-1, slug-2...).
func anchors(t *testing.T, file string) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	out := map[string]bool{}
	inFence := false
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "```") {
			inFence = !inFence
			continue
		}
		m := mdHeading.FindStringSubmatch(l)
		if inFence || m == nil {
			continue
		}
		s := githubSlug(m[1])
		if n := seen[s]; n > 0 {
			out[fmt.Sprintf("%s-%d", s, n)] = true
		} else {
			out[s] = true
		}
		seen[s]++
	}
	return out
}

// linkedFiles are the Markdown files whose links must resolve: the README,
// CONTRIBUTING.md, examples/, docs/ and CHANGELOG.md.
func linkedFiles(t *testing.T) (string, []string) {
	t.Helper()
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root, append(docFiles(t, root), filepath.Join(root, "CHANGELOG.md"))
}

// namedSection matches a section named in prose rather than linked:
// README "Sizing", docs/operations.md "Layouts".
var namedSection = regexp.MustCompile(`\b(README|CONTRIBUTING|docs/[\w./-]+\.md)(?:\.md)? "([^"]+)"`)

// TestChangelogNamesSectionsThatExist: a section the changelog names in
// prose (README "Sizing") is a heading of that file. The 0.2.0 entries
// named README sections that had moved to docs/; they are links now, which
// TestDocsLinksResolve checks.
func TestChangelogNamesSectionsThatExist(t *testing.T) {
	root, _ := linkedFiles(t)
	lines, err := proseLines(t, filepath.Join(root, "CHANGELOG.md"))
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range lines {
		for _, m := range namedSection.FindAllStringSubmatch(l, -1) {
			file := m[1]
			if !strings.HasSuffix(file, ".md") {
				file += ".md"
			}
			if !anchors(t, filepath.Join(root, filepath.FromSlash(file)))[githubSlug(m[2])] {
				t.Errorf("CHANGELOG.md:%d: %s has no section %q: link the page it moved to", i+1, file, m[2])
			}
		}
	}
}

// TestDocsLinksResolve: every relative link of README.md, CONTRIBUTING.md,
// examples/*.md and docs/*.md names a file of the repository, and every
// #anchor a heading of the page it points at (a section moved without its
// links fails here).
func TestDocsLinksResolve(t *testing.T) {
	root, files := linkedFiles(t)
	checked := 0
	for _, f := range files {
		lines, err := proseLines(t, f)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, f)
		for i, l := range lines {
			for _, m := range mdLink.FindAllStringSubmatch(l, -1) {
				target := m[1]
				if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
					continue
				}
				where := fmt.Sprintf("%s:%d: link %s", rel, i+1, target)
				path, anchor, _ := strings.Cut(target, "#")
				dest := f
				if path != "" {
					dest = filepath.Join(filepath.Dir(f), filepath.FromSlash(path))
					if _, err := os.Stat(dest); err != nil {
						t.Errorf("%s: %s does not exist", where, path)
						continue
					}
				}
				checked++
				if anchor == "" {
					continue
				}
				if !strings.HasSuffix(dest, ".md") {
					t.Errorf("%s: an #anchor into a file that is not Markdown", where)
					continue
				}
				if !anchors(t, dest)[anchor] {
					destRel, _ := filepath.Rel(root, dest)
					t.Errorf("%s: %s has no heading #%s", where, destRel, anchor)
				}
			}
		}
	}
	if checked < 50 {
		t.Fatalf("only %d relative links found: is the link pattern right?", checked)
	}
}

// TestReadmeLinksEveryDocsPage: every page under docs/ is linked from the
// README, the front page a reader starts from.
func TestReadmeLinksEveryDocsPage(t *testing.T) {
	root, _ := linkedFiles(t)
	lines, err := proseLines(t, filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	linked := map[string]bool{}
	for _, l := range lines {
		for _, m := range mdLink.FindAllStringSubmatch(l, -1) {
			path, _, _ := strings.Cut(m[1], "#")
			linked[filepath.Clean(path)] = true
		}
	}
	pages, _ := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if len(pages) < 5 {
		t.Fatalf("only %d pages under docs/", len(pages))
	}
	for _, p := range pages {
		rel, _ := filepath.Rel(root, p)
		if !linked[filepath.ToSlash(rel)] {
			t.Errorf("README.md does not link %s: add it to the Reference table", rel)
		}
	}
}

// readmeMaxLines is how long the front page may grow (issue 26: "about
// 250 lines", read in ten minutes).
const readmeMaxLines = 275

// TestReadmeIsAFrontPage: the README stays a page a newcomer reads in ten
// minutes; reference goes under docs/ (CONTRIBUTING.md, "Documentation").
// The README of 5278a12 had 946 lines.
func TestReadmeIsAFrontPage(t *testing.T) {
	root, _ := linkedFiles(t)
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), "\n"); n > readmeMaxLines {
		t.Errorf("README.md has %d lines, more than %d: move reference to the page of its subject under docs/ and link it (CONTRIBUTING.md, \"Documentation\")", n, readmeMaxLines)
	}
}

// TestGithubSlug: the anchors GitHub gives this repository's headings.
func TestGithubSlug(t *testing.T) {
	for heading, want := range map[string]string{
		"The `token_revocation` directive":                                 "the-token_revocation-directive",
		"Several Caddy instances: Redis":                                   "several-caddy-instances-redis",
		"Redis ACL (least privilege)":                                      "redis-acl-least-privilege",
		"Fronting Keycloak, Apache Usergrid and MeshyDB":                   "fronting-keycloak-apache-usergrid-and-meshydb",
		"60-second walk-through":                                           "60-second-walk-through",
		"Forward mode: confirmed means kept":                               "forward-mode-confirmed-means-kept",
		"A [linked](x.md) heading":                                         "a-linked-heading",
		"Performance — and sizing":                                         "performance--and-sizing",
		"Error pages, placeholders and access logs":                        "error-pages-placeholders-and-access-logs",
		"An OpenID Connect provider: sessions, users, back-channel logout": "an-openid-connect-provider-sessions-users-back-channel-logout",
	} {
		if got := githubSlug(heading); got != want {
			t.Errorf("githubSlug(%q) = %q, want %q", heading, got, want)
		}
	}
}
