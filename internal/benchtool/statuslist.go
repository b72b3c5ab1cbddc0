package main

// statusListSection measures what a Token Status List check adds to a
// verified JWT's check (issue 25 item 3): BenchmarkStatusListCheck* of
// package statuslist, a list of 10^6 entries cached, one entry read per
// check; BenchmarkStatusListCheck (the token's Entry kept, as the glue
// does) against statusListMaxNs.
var statusListSection = section{
	name: "statuslist",
	run: func(_ *bench, c config, res *results) error {
		logf("status-list check cost: go test -bench BenchmarkStatusListCheck ./statuslist")
		var err error
		res.statusList, err = goBenchmarks("./statuslist", "^BenchmarkStatusListCheck", c.goBenchtime(), 3)
		return err
	},
	targets: func(r *results, p printer) {
		if b, ok := findBench(r.statusList, statusListBench); ok {
			p("| status-list check of a verified JWT, a cached list of 10^6 entries | ≤ 100 ns more than a cached JWT's check | %.0f ns more, %.0f allocations | %s |", b.figures["ns/op"], b.figures["allocs/op"], verdict(b.figures["ns/op"] <= statusListMaxNs))
		}
	},
	report: func(r *results, p printer) {
		if len(r.statusList) == 0 {
			return
		}
		p("### Status-list check cost")
		p("")
		p("`go test -run '^$' -bench '^BenchmarkStatusListCheck' -benchmem -count 3 ./statuslist` (medians): the")
		p("look-up of a verified JWT's `status.status_list` entry in its issuer's Status List Token, fetched once")
		p("and cached (10^6 entries of one bit, entries read spread over the list): what the check adds to a")
		p("cached JWT's (BenchmarkCheckJWT above). BenchmarkStatusListCheck reads the token's kept Entry (as the")
		p("glue does); ByReference finds the list by issuer and uri at each check.")
		p("")
		p("| benchmark | ns/op | B/op | allocs/op |")
		p("|---|---|---|---|")
		for _, b := range r.statusList {
			p("| %s | %.0f | %.0f | %.0f |", b.name, b.figures["ns/op"], b.figures["B/op"], b.figures["allocs/op"])
		}
		p("")
	},
	misses: func(r *results) []profileJob {
		if b, ok := findBench(r.statusList, statusListBench); ok && b.figures["ns/op"] > statusListMaxNs {
			return []profileJob{{statusListBench + " missed its target (≤ 100 ns)", "./statuslist", "^" + statusListBench + "$", "3s", `Checker\).Check`}}
		}
		return nil
	},
}

// statusListBench and statusListMaxNs: issue 25's target, a status-list
// check at most 100 ns more than a cached JWT's check.
const (
	statusListBench = "BenchmarkStatusListCheck"
	statusListMaxNs = 100
)
