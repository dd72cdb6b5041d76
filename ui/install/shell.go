package install

import "strings"

// shellQuote makes s one word for a POSIX shell (sh, bash, zsh): as it is
// when it holds only characters no shell treats specially, otherwise in
// single quotes, inside which nothing is special; an embedded ' becomes '\”.
func shellQuote(s string) string {
	if s == "" {
		return "''"
	}
	safe := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			strings.IndexByte("@%_+=:,./-", c) >= 0) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// shellLine joins argv into one command line. assignments come first as
// NAME=value words, which the shell puts in the command's environment (so
// only the value is quoted: a quoted "NAME=value" would be a command name).
func shellLine(assignments []string, argv []string) string {
	words := make([]string, 0, len(assignments)+len(argv))
	for _, a := range assignments {
		name, value, _ := strings.Cut(a, "=")
		words = append(words, name+"="+shellQuote(value))
	}
	for _, a := range argv {
		words = append(words, shellQuote(a))
	}
	return strings.Join(words, " ")
}
