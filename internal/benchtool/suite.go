package main

// A section is one benchmark of the suite: `-only NAME` selects it, run
// measures, targets and report write its part of the Markdown.
//
// To add a benchmark: write NAME.go with a `var NAMESection = section{...}`
// (check.go is the smallest example, proxy.go the fullest), put its figures
// in a field of results, and add it to sections below. Processes come from
// bench (processes.go): startRedis, startCaddy, runWrk; every one it starts
// is stopped when the section returns.
type section struct {
	// name selects the section with -only.
	name string
	// run measures and stores the figures in res.
	run func(env *bench, c config, res *results) error
	// targets writes the section's rows of the targets table. Optional.
	targets func(r *results, p printer)
	// report writes the section's heading and tables. Optional.
	report func(r *results, p printer)
	// misses lists the Go benchmarks to profile for targets the run
	// missed (profile.go). Optional.
	misses func(r *results) []profileJob
}

// sections is the suite, in the order it runs and is reported.
var sections = []section{
	checkSection,
	statusListSection,
	proxySection,
	propagationSection,
	ssfSection,
	liveSection,
	scaleSection,
}

// sectionNames are the names -only accepts, in order.
func sectionNames() []string {
	var names []string
	for _, s := range sections {
		names = append(names, s.name)
	}
	return names
}
