package store

import "errors"

// ErrInvalid is a write the store refuses whatever the database says: an
// empty or oversized field, a server.json that is not a JSON object, an
// unknown status or decision, a name at its version limit (the API answers
// 400).
var ErrInvalid = errors.New("invalid")

// Bounds of what the store accepts and returns. They keep every query and
// every value the process holds in memory bounded.
const (
	// MaxServerBytes bounds a compacted server.json.
	MaxServerBytes = 256 << 10
	// MaxNameBytes and MaxVersionBytes are the official registry's
	// limits on a server's name and version.
	MaxNameBytes    = 200
	MaxVersionBytes = 255
	// MaxStatusMessageBytes is the official registry's limit on
	// statusMessage.
	MaxStatusMessageBytes = 500
	// MaxVersionsPerServer is the official registry's limit on the
	// versions of one name.
	MaxVersionsPerServer = 10000
	// MaxServers bounds the stored versions of all names: Servers returns
	// them all, and the managed source keeps them in memory.
	MaxServers = 20000
	// MaxDecisions bounds the stored decisions.
	MaxDecisions = 20000
	// MaxRangeBytes bounds a decision's Versions.
	MaxRangeBytes = 255
	// MaxNoteBytes bounds a decision's note.
	MaxNoteBytes = 4096
	// MaxWhoBytes bounds the subject recorded with a write.
	MaxWhoBytes = 512
	// MaxChanges is the most Changes returns at once (and its default).
	MaxChanges = 1000
)

// The statuses of a server version and the decisions, as stored.
const (
	StatusActive     = "active"
	StatusDeprecated = "deprecated"
	StatusDeleted    = "deleted"

	DecisionApproved = "approved"
	DecisionDenied   = "denied"
)
