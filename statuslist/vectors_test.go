package statuslist

import (
	"bytes"
	"encoding/json"
	"os"
	"strconv"
	"testing"
)

// draftVectors is testdata/draft_vectors.json: the draft's test vectors,
// one per bits size, and its two small byte arrays.
type draftVectors struct {
	Vectors []struct {
		Bits     int            `json:"bits"`
		Size     uint64         `json:"size"`
		Lst      string         `json:"lst"`
		Statuses map[string]int `json:"statuses"`
	} `json:"vectors"`
	ByteArrays []struct {
		Bits  int    `json:"bits"`
		Lst   string `json:"lst"`
		Bytes []byte `json:"bytes"`
	} `json:"byte_arrays"`
}

func readVectors(t testing.TB) draftVectors {
	t.Helper()
	b, err := os.ReadFile("testdata/draft_vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var v draftVectors
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func listClaim(bits int, lst string) json.RawMessage {
	b, _ := json.Marshal(map[string]any{"bits": bits, "lst": lst})
	return b
}

// TestDraftVectors decodes the draft's test vector of each bits size and
// reads every one of its 2^20 entries: the listed ones hold their value,
// the others VALID.
func TestDraftVectors(t *testing.T) {
	v := readVectors(t)
	if len(v.Vectors) != 4 {
		t.Fatalf("%d vectors, want one per bits size", len(v.Vectors))
	}
	for _, vec := range v.Vectors {
		t.Run(strconv.Itoa(vec.Bits)+"bit", func(t *testing.T) {
			s, err := decodeList(listClaim(vec.Bits, vec.Lst), DefaultMaxListBytes)
			if err != nil {
				t.Fatal(err)
			}
			if s.size < vec.Size {
				t.Fatalf("%d entries, want at least %d", s.size, vec.Size)
			}
			want := map[uint64]Status{}
			for k, val := range vec.Statuses {
				i, _ := strconv.ParseUint(k, 10, 64)
				want[i] = Status(val)
			}
			for i := uint64(0); i < vec.Size; i++ {
				got := s.lookup(i)
				w := want[i]
				wantVerdict := Pass
				if w != Valid {
					wantVerdict = Rejected
				}
				if got.Status != w || got.Verdict != wantVerdict || got.Err != nil {
					t.Fatalf("entry %d: %v %v %v, want %v %v", i, got.Verdict, got.Status, got.Err, wantVerdict, w)
				}
			}
			if got := s.lookup(s.size); got.Verdict != Rejected || got.Err != ErrIndexOutOfRange {
				t.Errorf("entry %d (one past the list): %v %v, want rejected, out of range", s.size, got.Verdict, got.Err)
			}
		})
	}
	for _, ba := range v.ByteArrays {
		s, err := decodeList(listClaim(ba.Bits, ba.Lst), DefaultMaxListBytes)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(s.data, ba.Bytes) {
			t.Errorf("%d bits: %x, want %x", ba.Bits, s.data, ba.Bytes)
		}
	}
}

// TestByteArrayExamples reads the entries of the draft's two worked
// examples (section "Compressed Byte Array") one by one.
func TestByteArrayExamples(t *testing.T) {
	for _, tc := range []struct {
		bits int
		lst  string
		want []Status
	}{
		{1, "eNrbuRgAAhcBXQ", []Status{1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 1, 0, 1}},
		{2, "eNo76fITAAPfAgc", []Status{1, 2, 0, 3, 0, 1, 0, 1, 1, 2, 3, 3}},
	} {
		s, err := decodeList(listClaim(tc.bits, tc.lst), DefaultMaxListBytes)
		if err != nil {
			t.Fatal(err)
		}
		if s.size != uint64(len(tc.want)) {
			t.Errorf("%d bits: %d entries, want %d", tc.bits, s.size, len(tc.want))
		}
		for i, w := range tc.want {
			if got := s.lookup(uint64(i)); got.Status != w {
				t.Errorf("%d bits: status[%d] = %v, want %v", tc.bits, i, got.Status, w)
			}
		}
	}
}

// TestDecodeListRefuses: bits other than 1, 2, 4, 8, a lst that is not
// base64url or zlib, and a list that decompresses beyond the bound.
func TestDecodeListRefuses(t *testing.T) {
	big := bytes.Repeat([]byte{0}, 1<<16)
	for name, raw := range map[string]json.RawMessage{
		"bits 3":        listClaim(3, "eNrbuRgAAhcBXQ"),
		"bits 16":       listClaim(16, "eNrbuRgAAhcBXQ"),
		"no bits":       json.RawMessage(`{"lst":"eNrbuRgAAhcBXQ"}`),
		"no lst":        json.RawMessage(`{"bits":1}`),
		"not base64url": listClaim(1, "eNrb+RgAAhcBXQ"),
		"not zlib":      listClaim(1, "AAAAAAAA"),
		"too large":     listClaim(1, compress(t, big)),
	} {
		if _, err := decodeList(raw, 1<<15); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
