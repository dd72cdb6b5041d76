package cache

import "testing"

func TestETag(t *testing.T) {
	t.Parallel()
	a, b := ETag([]byte("one")), ETag([]byte("two"))
	if a == b || a != ETag([]byte("one")) {
		t.Fatalf("ETag not a function of the body: %s %s", a, b)
	}
	if a[0] != '"' || a[len(a)-1] != '"' {
		t.Errorf("ETag %s is not quoted", a)
	}
	gz := EncodedETag(a, "gzip")
	if gz == a || gz[len(gz)-1] != '"' {
		t.Errorf("encoded tag %s", gz)
	}
	tests := []struct {
		header string
		want   bool
	}{
		{"", false},
		{a, true},
		{"W/" + a, true},
		{gz, true},
		{`"other", ` + a, true},
		{"*", true},
		{b, false},
		{`"` + a[1:len(a)-1] + `x"`, false},
		{`"other-gzip"`, false},
	}
	for _, tc := range tests {
		if got := NoneMatch(tc.header, a); got != tc.want {
			t.Errorf("NoneMatch(%q) = %v, want %v", tc.header, got, tc.want)
		}
	}
}
