package storetest

import (
	"context"
	"slices"
	"testing"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
)

// CheckSignalState checks a store's SignalState (its own, or that of a
// store it wraps) on clock clk: values by source and name, set members
// kept until their expiry (the later one when added again), removed, and
// sources and sets that do not see each other's.
func CheckSignalState(t *testing.T, s denylist.Store, clk *Clock) {
	t.Helper()
	ctx := context.Background()
	st := denylist.SignalStateOf(s)
	if st == nil {
		t.Fatal("no SignalState")
	}
	const a, b = "https://tx.example.com/a", "https://tx.example.com/b"
	if v, err := st.SignalValue(ctx, a, "stream"); err != nil || v != "" {
		t.Fatalf("value never set = %q, %v; want \"\"", v, err)
	}
	must(t, st.SetSignalValue(ctx, a, "stream", "s-1"))
	must(t, st.SetSignalValue(ctx, a, "stream", "s-2"))
	if v, err := st.SignalValue(ctx, a, "stream"); err != nil || v != "s-2" {
		t.Fatalf("value = %q, %v; want the last set, s-2", v, err)
	}
	if v, _ := st.SignalValue(ctx, b, "stream"); v != "" {
		t.Fatalf("another source's value = %q, want \"\"", v)
	}
	swap := func(src, old, value, want string) {
		t.Helper()
		if v, err := st.SwapSignalValue(ctx, src, "stream", old, value); err != nil || v != want {
			t.Fatalf("swap %q for %q = %q, %v; want %q", old, value, v, err, want)
		}
	}
	swap(a, "s-1", "s-3", "s-2") // not the old value: the saved one kept
	swap(a, "s-2", "s-3", "s-3")
	swap(b, "", "t-1", "t-1") // none saved: "" is the old value
	swap(b, "", "t-2", "t-1") // the second of two instances loses
	if v, _ := st.SignalValue(ctx, a, "stream"); v != "s-3" {
		t.Fatalf("value after swaps = %q, want s-3", v)
	}
	must(t, st.SetSignalValue(ctx, b, "stream", ""))

	members := func(src, set string) []string {
		t.Helper()
		m, err := st.SignalMembers(ctx, src, set)
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(m)
		return m
	}
	has := func(src, set, m string) bool {
		t.Helper()
		ok, err := st.SignalMember(ctx, src, set, m)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	must(t, st.AddSignalMembers(ctx, a, "applied", T0+100, "e1", "e2"))
	must(t, st.AddSignalMembers(ctx, a, "applied", T0+300, "e3"))
	must(t, st.AddSignalMembers(ctx, a, "applied", T0+50, "e1"))  // an earlier expiry is not kept
	must(t, st.AddSignalMembers(ctx, a, "applied", T0+200, "e2")) // a later one is
	must(t, st.AddSignalMembers(ctx, a, "acks", T0+100, "j1"))
	must(t, st.AddSignalMembers(ctx, b, "applied", T0+100, "e9"))
	if got := members(a, "applied"); !slices.Equal(got, []string{"e1", "e2", "e3"}) {
		t.Fatalf("members = %v, want e1 e2 e3", got)
	}
	if got := members(a, "acks"); !slices.Equal(got, []string{"j1"}) {
		t.Fatalf("another set's members = %v, want j1", got)
	}
	if got := members(b, "applied"); !slices.Equal(got, []string{"e9"}) {
		t.Fatalf("another source's members = %v, want e9", got)
	}
	if !has(a, "applied", "e1") || has(a, "applied", "e9") || has(a, "acks", "e1") {
		t.Fatal("SignalMember disagrees with the members added")
	}

	clk.Set(T0 + 100) // e1 expires (its later expiry kept), e2 and e3 do not
	if has(a, "applied", "e1") {
		t.Fatal("a member is still there at its expiry")
	}
	if got := members(a, "applied"); !slices.Equal(got, []string{"e2", "e3"}) {
		t.Fatalf("members at T0+100 = %v, want e2 e3", got)
	}
	must(t, st.AddSignalMembers(ctx, a, "applied", T0+400, "e4")) // prunes e1 on the way
	must(t, st.RemoveSignalMembers(ctx, a, "applied", "e2", "never added"))
	if got := members(a, "applied"); !slices.Equal(got, []string{"e3", "e4"}) {
		t.Fatalf("members after removing e2 = %v, want e3 e4", got)
	}
	must(t, st.RemoveSignalMembers(ctx, a, "acks", "j1"))
	if got := members(a, "acks"); len(got) != 0 {
		t.Fatalf("acks after removing them all = %v, want none", got)
	}
}
