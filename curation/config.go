package curation

// Config is the curation: block of the configuration.
type Config struct {
	// ReviewerClaims make a verified token a reviewer's: every key must
	// match, as in a view's access.claims. Reviewers list and write
	// decisions and read the review queue.
	ReviewerClaims map[string]any `yaml:"reviewerClaims"`
}

// Configured reports whether the block says anything.
func (c Config) Configured() bool { return len(c.ReviewerClaims) > 0 }
