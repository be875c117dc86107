package master

import (
	"strings"
	"time"

	"github.com/nutslave/nutslave/flags"
)

// DrillAnswer is a slave's drillok.<name> in ACKDIR.
type DrillAnswer struct {
	Name string
	// ID is the drill= field: which drill it answers.
	ID string
	// At is the file's modification time (the master's clock).
	At time.Time
}

// ParseDrillAnswer reads drillok.<name>'s body and modification time.
func ParseDrillAnswer(name string, body []byte, mtime time.Time) DrillAnswer {
	fields, _ := flags.Parse(body)
	return DrillAnswer{Name: name, ID: strings.TrimSpace(fields["drill"]), At: mtime}
}

// DrillTally is the state of a drill's roster.
type DrillTally struct {
	// Answered are the roster's answers to this drill, in roster order
	// (by name when the roster is empty).
	Answered []DrillAnswer
	// Missing are the roster's names without an answer to this drill.
	Missing []string
	// Unlisted are answers to this drill from slaves not in the roster.
	Unlisted []DrillAnswer
	// Complete: every listed slave answered (empty roster: any one).
	Complete bool
}

// TallyDrill compares the answers found with the roster for drill id;
// answers to another drill do not count.
func TallyDrill(roster []string, answers []DrillAnswer, id string) DrillTally {
	var t DrillTally
	by := map[string]DrillAnswer{}
	for _, a := range answers {
		if a.ID == id && id != "" {
			by[a.Name] = a
		}
	}
	listed := map[string]bool{}
	for _, n := range roster {
		listed[n] = true
		if a, ok := by[n]; ok {
			t.Answered = append(t.Answered, a)
		} else {
			t.Missing = append(t.Missing, n)
		}
	}
	for _, n := range sortedNames(by, listed) {
		if len(roster) == 0 {
			t.Answered = append(t.Answered, by[n])
		} else {
			t.Unlisted = append(t.Unlisted, by[n])
		}
	}
	if len(roster) == 0 {
		t.Complete = len(t.Answered) > 0
	} else {
		t.Complete = len(t.Missing) == 0
	}
	return t
}
