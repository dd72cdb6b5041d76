package managed

// Spec is a managed source as configured (sources[i] with kind: managed).
// It has no fields of its own: the entries come from the store (the
// store: block), written through the publishing API; the fields every
// source has (name, namespaces, required, filter) apply as to any other.
type Spec struct{}

// ApplyDefaults has nothing to set.
func (*Spec) ApplyDefaults() {}

// Validate has nothing to check: the configuration checks that at most
// one source is managed, and the store: block.
func (Spec) Validate() error { return nil }
