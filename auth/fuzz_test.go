package auth

import (
	"errors"
	"strings"
	"testing"
)

func FuzzAuthorizationHeader(f *testing.F) {
	for _, s := range []string{
		"", "Bearer abc", "bearer abc", "BEARER abc.def.ghi", "Bearer  spaced", "Bearer abc==", "Bearer a=b",
		"Bearer ", "Bearer", "Basic dXNlcjpwYXNz", "Bearer abc def", "Bearer \x00", "Bearer é", "Token abc",
		"Bearer " + strings.Repeat("a", MaxTokenBytes), "Bearer " + strings.Repeat("a", MaxTokenBytes+1),
		"Bearer eyJhbGciOiJub25lIn0.e30.", "\tBearer abc", "Bearer abc\t",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		tok, err := ParseAuthorization([]string{h})
		if err != nil {
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("error %v does not wrap ErrInvalidToken", err)
			}
			if tok != "" {
				t.Fatalf("token %q returned with an error", tok)
			}
			if len(tok) > 0 && strings.Contains(err.Error(), tok) {
				t.Fatal("error contains the token")
			}
			return
		}
		if tok == "" || len(tok) > MaxTokenBytes || !isB64Token(tok) {
			t.Fatalf("accepted token %q from %q", tok, h)
		}
		scheme, _, _ := strings.Cut(h, " ")
		if !strings.EqualFold(scheme, "bearer") || !strings.Contains(h, tok) {
			t.Fatalf("token %q from header %q", tok, h)
		}
		// Parsing is stable: the canonical header gives the same token.
		again, err := ParseAuthorization([]string{"Bearer " + tok})
		if err != nil || again != tok {
			t.Fatalf("canonical form %q → %q, %v", tok, again, err)
		}
	})
}

func TestParseAuthorization(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		values  []string
		want    string
		wantErr error
	}{
		{"none", nil, "", nil},
		{"bearer", []string{"Bearer abc.def-_~+/=="}, "abc.def-_~+/==", nil},
		{"two headers", []string{"Bearer a", "Bearer b"}, "", ErrMalformedHeader},
		{"inner space", []string{"Bearer a b"}, "", ErrMalformedHeader},
		{"padding inside", []string{"Bearer a=b"}, "", ErrMalformedHeader},
		{"huge header", []string{"Bearer " + strings.Repeat("a", 100000)}, "", ErrTokenTooLarge},
		{"empty header", []string{""}, "", ErrMalformedHeader},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseAuthorization(tc.values)
			if !errors.Is(err, tc.wantErr) || got != tc.want {
				t.Fatalf("got %q, %v; want %q, %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
	if r := Reason(nil); r != "" {
		t.Errorf("Reason(nil) = %q", r)
	}
	if r := Reason(invalid(ErrExpired)); r != ErrExpired.Error() {
		t.Errorf("Reason = %q", r)
	}
	if r := Reason(errors.New("other")); r != "authentication failed" {
		t.Errorf("Reason = %q", r)
	}
}
