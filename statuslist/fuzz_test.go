package statuslist

import (
	"encoding/json"
	"testing"
)

// FuzzLookupIsTheDraftsLayout: for any byte array and bits size, each
// entry read is the draft's (section "Compressed Byte Array"): entry i
// holds bits i*bits to i*bits+bits-1 of the array, counted from the least
// significant bit of byte 0; an index past the array is out of range. Any
// lst, compressed or not, is read or refused without a panic.
func FuzzLookupIsTheDraftsLayout(f *testing.F) {
	f.Add(uint8(0), []byte{0xb9, 0xa3}, "eNrbuRgAAhcBXQ", uint64(3))
	f.Add(uint8(1), []byte{0xc9, 0x44, 0xf9}, "eNo76fITAAPfAgc", uint64(9))
	f.Add(uint8(3), []byte{0, 1, 2, 255}, "", uint64(1<<40))
	f.Fuzz(func(t *testing.T, shift uint8, data []byte, lst string, idx uint64) {
		bits := 1 << (shift % 4)
		if len(data) > 1<<12 {
			data = data[:1<<12]
		}
		// Any lst: refused or read, never a panic.
		if s, err := decodeList(listClaim(bits, lst), 1<<16); err == nil {
			s.lookup(idx)
		}
		raw, _ := json.Marshal(map[string]any{"bits": bits, "lst": compress(t, data)})
		s, err := decodeList(raw, 1<<16)
		if err != nil {
			t.Fatal(err)
		}
		size := uint64(len(data)) * 8 / uint64(bits)
		for _, i := range []uint64{idx, idx % (size + 1), 0, size - 1} {
			got := s.lookup(i)
			if i >= size {
				if got.Verdict != Rejected || got.Err != ErrIndexOutOfRange {
					t.Fatalf("idx %d of %d entries: %+v, want out of range", i, size, got)
				}
				continue
			}
			bit := i * uint64(bits)
			want := Status(data[bit/8]>>(bit%8)) & Status(1<<bits-1)
			if got.Status != want || (got.Verdict == Pass) != (want == Valid) || got.Err != nil {
				t.Fatalf("idx %d, %d bits, data %x: %+v, want status %d", i, bits, data, got, want)
			}
		}
	})
}
