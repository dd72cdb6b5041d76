package install

import (
	"errors"
	"fmt"
	"strings"
)

// remoteOption makes an option of a remote: the client connects to its URL
// ({variables} resolved from the remote's own variables) with its headers.
func remoteOption(r transport) (*option, error) {
	if r.Type != kindHTTP && r.Type != kindSSE {
		return nil, errors.New("its transport is not streamable-http or sse")
	}
	o := &option{kind: r.Type, vars: newVarSet()}
	t, _, err := o.vars.expand("url", r.URL, r.Variables, false, nil)
	if err != nil {
		return nil, err
	}
	sample := t.render(func(v *variable) string { return "x" })
	if len(t) > 0 && t[0].v != nil {
		sample = "https://x" + strings.TrimPrefix(sample, "x")
	}
	if err := checkURL(sample); err != nil {
		return nil, err
	}
	o.url = t
	o.label = "Remote " + clip(r.URL, 100)
	if err := o.setHeaders(r.Headers); err != nil {
		return nil, err
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	return o, nil
}

// setHeaders resolves HTTP headers like environment variables: required
// ones get a value or a prompt, optional unset ones are left out (a note
// lists them).
func (o *option) setHeaders(kvs []keyValue) error {
	if len(kvs) > maxKeyValues {
		return errors.New("it has too many headers")
	}
	var unset []string
	seen := map[string]bool{}
	for _, kv := range kvs {
		if !headerName.MatchString(kv.Name) || len(kv.Name) > 128 {
			return fmt.Errorf("header name %q is not valid", clip(kv.Name, 40))
		}
		lower := strings.ToLower(kv.Name)
		if seen[lower] {
			return fmt.Errorf("header %s is declared twice", kv.Name)
		}
		seen[lower] = true
		t, ok, err := o.vars.resolve("header:"+lower, kv.Name, kv.varInput, false, nil)
		if err != nil {
			return err
		}
		if !ok {
			unset = append(unset, kv.Name)
			continue
		}
		o.headers = append(o.headers, pair{name: kv.Name, value: t})
	}
	if len(unset) > 0 {
		o.notes = append(o.notes, "Optional headers left out: "+strings.Join(unset, ", ")+".")
	}
	return nil
}
