package notify

import "testing"

func TestSuppliesStaysUp(t *testing.T) {
	ab := []Feed{{"a@m1", 1}, {"b@m2", 1}}
	for _, tc := range []struct {
		name      string
		s         Supplies
		condemned []string
		left      int
		up        bool
	}{
		{"two feeds, one condemned, MINSUPPLIES 1", Supplies{1, ab}, []string{"a@m1"}, 1, true},
		{"two feeds, both condemned", Supplies{1, ab}, []string{"a@m1", "b@m2"}, 0, false},
		{"two feeds, one condemned, MINSUPPLIES 2", Supplies{2, ab}, []string{"b@m2"}, 1, false},
		{"MINSUPPLIES 0 counts as 1", Supplies{0, ab}, []string{"a@m1", "b@m2"}, 0, false},
		{"a power value of 2 on one feed", Supplies{2, []Feed{{"a@m1", 2}, {"b@m2", 1}}}, []string{"b@m2"}, 2, true},
		{"nothing condemned", Supplies{1, ab}, nil, 2, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			left, up := tc.s.StaysUp(func(u string) bool {
				for _, c := range tc.condemned {
					if c == u {
						return true
					}
				}
				return false
			})
			if left != tc.left || up != tc.up {
				t.Errorf("StaysUp = %d, %v; want %d, %v", left, up, tc.left, tc.up)
			}
		})
	}
	if (Supplies{1, ab[:1]}).Redundant() || !(Supplies{1, ab}).Redundant() {
		t.Errorf("Redundant: one feed must not be, two must be")
	}
	if (Supplies{1, []Feed{{"a@m1", 1}, {"b@m2", 0}}}).Redundant() {
		t.Errorf("a feed of power 0 (monitored only) does not make a host redundant")
	}
}
