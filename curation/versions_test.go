package curation

import (
	"errors"
	"strings"
	"testing"
)

func TestParseVersions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string // want: the normalised form, or the error's text
		bad      bool
	}{
		{in: "*", want: "*"},
		{in: " * ", want: "*"},
		{in: "1.2.3", want: "1.2.3"},
		{in: "2024.06.01", want: "2024.06.01"},
		{in: "v1.2", want: "v1.2"},
		{in: ">=1.2 <2", want: ">=1.2 <2"},
		{in: ">=1.2   <2", want: ">=1.2 <2"},
		{in: ">=1.0.0", want: ">=1.0.0"},
		{in: "<2", want: "<2"},
		{in: "1.x", want: "1.x"},
		{in: "1.2.*", want: "1.2.*"},
		{in: "1.x.x", want: "1.x.x"},
		{in: "=1.2.3", want: "=1.2.3"},
		{in: ">=1.2.3-rc.1 <1.3", want: ">=1.2.3-rc.1 <1.3"},
		{in: "1.x||>=3.1  <4", want: "1.x || >=3.1 <4"},
		{in: "", bad: true, want: "empty"},
		{in: "   ", bad: true, want: "empty"},
		{in: "latest", bad: true, want: `"latest" is not a version`},
		{in: ">=", bad: true, want: `">=" needs a version after it`},
		{in: ">=1.2 <", bad: true, want: `"<" needs a version after it`},
		{in: ">=1.2<2", bad: true, want: "one operator per part"},
		{in: ">=1.2 ||", bad: true, want: "empty alternative"},
		{in: ">=01.2", bad: true, want: "is not a version"},
		{in: ">=1.2.3.4", bad: true, want: "is not a version"},
		{in: ">=1.2-beta", bad: true, want: "a pre-release needs MAJOR.MINOR.PATCH"},
		{in: ">=1.2.3+build", bad: true, want: "build metadata"},
		{in: ">=x", bad: true, want: "is not a version"},
		{in: ">=1.x", bad: true, want: "a wildcard takes no operator"},
		{in: "x", bad: true, want: "is not a version"},
		{in: "1.x.3", bad: true, want: "is not a version"},
		{in: "^1.2", bad: true, want: "^ and ~ are not accepted"},
		{in: ">=~1.2", bad: true, want: "^ and ~ are not accepted"},
		{in: strings.Repeat("1", MaxVersionsLength+1), bad: true, want: "longer than"},
		{in: strings.Repeat(">=1 ", maxParts+1), bad: true, want: "more than 8 parts"},
		{in: strings.Repeat("1.x||", maxAlternatives) + "2.x", bad: true, want: "more than 8 alternatives"},
		{in: "1.2.3\x00", bad: true, want: "control character"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			r, err := ParseVersions(tc.in)
			switch {
			case tc.bad && err == nil:
				t.Fatalf("accepted as %q", r)
			case tc.bad && (!errors.Is(err, ErrVersions) || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one saying %q", err, tc.want)
			case !tc.bad && err != nil:
				t.Fatal(err)
			case !tc.bad && r.String() != tc.want:
				t.Fatalf("normalised to %q, want %q", r, tc.want)
			}
		})
	}
}

func TestCovers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		versions string
		// covered by an approval and a denial; the other lists cover
		// neither, or (deniedOnly) a denial only.
		both, deniedOnly, neither []string
	}{
		{"*", []string{"1.0.0", "2024.06.01", "1.0.0-beta", "anything"}, nil, nil},
		// An exact denial also covers the same version by precedence.
		{"1.2.3", []string{"1.2.3"}, []string{"v1.2.3", "1.2.3+b1"}, []string{"1.2.4", "1.2.3-rc.1"}},
		{"2024.06.01", []string{"2024.06.01"}, nil, []string{"2024.06.02"}},
		{">=1.2 <2", []string{"1.2.0", "1.2.9", "1.99.0", "v1.5.0", "1.5.0+build.7"},
			[]string{"1.5.0-beta.1"}, []string{"1.1.9", "2.0.0", "2.0.0-rc.1", "1.2.0-rc.1", "0.9.0", "2024.06.01", "1.5"}},
		{">=1.0.0", []string{"1.0.0", "7.3.1"}, []string{"2.0.0-beta"}, []string{"0.9.9", "1.0.0-rc.1"}},
		{"<2", []string{"1.9.9", "0.0.1"}, []string{"1.9.9-x"}, []string{"2.0.0", "2.0.0-alpha", "2.0.0-0"}},
		{"<=1.2", []string{"1.2.99", "1.0.0"}, nil, []string{"1.3.0", "1.3.0-alpha"}},
		{">1.2", []string{"1.3.0", "2.0.0"}, nil, []string{"1.2.99", "1.3.0-rc.1"}},
		{">1.2.3", []string{"1.2.4"}, nil, []string{"1.2.3"}},
		{"<1.2.3", []string{"1.2.2"}, []string{"1.2.3-rc.1"}, []string{"1.2.3"}},
		{"1.x", []string{"1.0.0", "1.99.99"}, []string{"1.5.0-rc.1"}, []string{"2.0.0", "2.0.0-rc.1", "0.9.0", "1.0.0-rc.1"}},
		{"1.2.x", []string{"1.2.0", "1.2.7"}, nil, []string{"1.3.0", "1.1.9"}},
		{"=1.2", []string{"1.2.0", "1.2.7"}, nil, []string{"1.3.0"}},
		{"=1.2.3", []string{"1.2.3", "v1.2.3", "1.2.3+meta"}, nil, []string{"1.2.4"}},
		{">=1.5.0-beta.0 <2", []string{"1.5.0-beta.1", "1.5.0-beta.0", "1.6.0"}, []string{"1.6.0-beta.1"}, []string{"1.5.0-alpha"}},
		{"1.x || >=3.1 <4", []string{"1.4.0", "3.1.0", "3.9.9"}, nil, []string{"2.0.0", "3.0.0", "4.0.0"}},
		{"<9999999999999999999999", []string{"9999999999999999999998.0.0"}, nil, []string{"9999999999999999999999.0.0"}},
		{"<=9.9", []string{"9.9.9"}, nil, []string{"9.10.0", "10.0.0"}},
	}
	for _, tc := range tests {
		t.Run(tc.versions, func(t *testing.T) {
			t.Parallel()
			r, err := ParseVersions(tc.versions)
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range tc.both {
				if !r.Covers(v, false) || !r.Covers(v, true) {
					t.Errorf("%q: approval %v, denial %v; want both", v, r.Covers(v, false), r.Covers(v, true))
				}
			}
			for _, v := range tc.deniedOnly {
				if r.Covers(v, false) || !r.Covers(v, true) {
					t.Errorf("%q: approval %v, denial %v; want the denial only", v, r.Covers(v, false), r.Covers(v, true))
				}
			}
			for _, v := range tc.neither {
				if r.Covers(v, false) || r.Covers(v, true) {
					t.Errorf("%q: approval %v, denial %v; want neither", v, r.Covers(v, false), r.Covers(v, true))
				}
			}
		})
	}
}

func TestIncrement(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"0": "1", "9": "10", "19": "20", "99": "100", "123": "124"} {
		if got := increment(in); got != want {
			t.Errorf("increment(%s) = %s, want %s", in, got, want)
		}
	}
}

// FuzzParseVersions: whatever a reviewer writes, parsing answers a range
// or an error, and a range's normalised form parses to the same form.
func FuzzParseVersions(f *testing.F) {
	for _, s := range []string{"*", "1.2.3", ">=1.2 <2", "1.x || 3.*", "<=1.2.3-rc.1", ">", "||", "v1.x.x", "1.2.3 1.2.4"} {
		f.Add(s, "1.2.3")
	}
	f.Fuzz(func(t *testing.T, s, v string) {
		r, err := ParseVersions(s)
		if err != nil {
			return
		}
		again, err := ParseVersions(r.String())
		if err != nil || again.String() != r.String() {
			t.Fatalf("%q normalised to %q, which reads as %q, %v", s, r, again, err)
		}
		_ = r.Covers(v, false)
		_ = r.Covers(v, true)
		if r.Covers(v, false) && !r.Covers(v, true) {
			t.Fatalf("%q: an approval covers %q and a denial does not", s, v)
		}
	})
}
