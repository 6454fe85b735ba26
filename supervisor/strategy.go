package supervisor

import "fmt"

// Strategy decides which children a supervisor restarts when one of them
// fails. The zero value is OneForOne.
type Strategy int

const (
	// OneForOne restarts only the child that failed. It suits children that
	// do not depend on each other.
	OneForOne Strategy = iota
	// OneForAll stops every other child, in reverse start order, and
	// restarts them all, in start order, after the failed child's backoff
	// delay. It suits children that cannot work without each other.
	OneForAll
	// RestForOne stops the children started after the failed one, in
	// reverse start order, and restarts the failed child and then them, in
	// start order. It suits a pipeline in which each child depends on the
	// ones started before it.
	RestForOne
)

// Under OneForAll and RestForOne, a child that has ended (see ChildEnded)
// stays ended when a sibling's failure restarts the others, and a Temporary
// child stopped by it is removed, as the Temporary policy requires.

// String returns the strategy's name in the form OTP spells it, such as
// "one_for_one".
func (s Strategy) String() string {
	switch s {
	case OneForOne:
		return "one_for_one"
	case OneForAll:
		return "one_for_all"
	case RestForOne:
		return "rest_for_one"
	}
	return fmt.Sprintf("Strategy(%d)", int(s))
}

func (s Strategy) valid() bool { return s >= OneForOne && s <= RestForOne }

// ordered reports whether the strategy restarts children in start order,
// each after the ones before it are running.
func (s Strategy) ordered() bool { return s != OneForOne }

// AutoShutdown decides whether a supervisor stops by itself when its
// significant children end (see Spec.Significant). A child ends when it
// returns and its policy does not restart it. A child that the supervisor
// stops, or that Remove takes away, never triggers an auto shutdown. The
// zero value is Never.
type AutoShutdown int

const (
	// Never keeps the supervisor running whatever its children do.
	Never AutoShutdown = iota
	// AnySignificant stops the supervisor as soon as one significant child
	// ends.
	AnySignificant
	// AllSignificant stops the supervisor once every significant child has
	// ended. A supervisor without significant children never stops by
	// itself.
	AllSignificant
)

// String returns the setting's name in the form OTP spells it, such as
// "any_significant".
func (a AutoShutdown) String() string {
	switch a {
	case Never:
		return "never"
	case AnySignificant:
		return "any_significant"
	case AllSignificant:
		return "all_significant"
	}
	return fmt.Sprintf("AutoShutdown(%d)", int(a))
}

func (a AutoShutdown) valid() bool { return a >= Never && a <= AllSignificant }
