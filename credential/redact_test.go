package credential

import (
	"strings"
	"testing"
)

func TestRedactURL(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"https://registry.example.com/acme", "https://registry.example.com/acme"},
		{"https://user:s3cret@registry.example.com/acme", "https://registry.example.com/acme"},
		{"https://s3cret@registry.example.com", "https://registry.example.com"},
		{"https://registry.example.com/x.json?token=s3cret&a=b", "https://registry.example.com/x.json"},
		{"https://registry.example.com/x.json#s3cret", "https://registry.example.com/x.json"},
		{"https://registry.example.com/x.json?", "https://registry.example.com/x.json"},
		// Unparseable: an invalid escape, a space in the host, a bad port.
		{"https://user:s3cret@registry.example.com/%zz?token=s3cret", "https://registry.example.com/%zz"},
		{"https://us er:s3cret@reg istry/x?token=s3cret", "https://reg istry/x"},
		{"https://user:s3cret@host:port/x", "https://host:port/x"},
		// Opaque: no "//" after the scheme.
		{"user:s3cret@host/x?token=s3cret", "host/x"},
		{"", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got := RedactURL(tt.in)
			if got != tt.want {
				t.Errorf("RedactURL(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if strings.Contains(got, "s3cret") {
				t.Errorf("RedactURL(%q) = %q keeps the secret", tt.in, got)
			}
		})
	}
}
