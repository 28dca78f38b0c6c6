package vocab

// What a review that nobody answers in time does.
const (
	OnTimeoutApprove = "approve"
	OnTimeoutReject  = "reject"
	OnTimeoutWait    = "wait"
)

// OnTimeoutPolicies lists the timeout policies. The slice is the caller's.
func OnTimeoutPolicies() []string {
	return []string{OnTimeoutApprove, OnTimeoutReject, OnTimeoutWait}
}

// ValidOnTimeout reports whether s names a timeout policy.
func ValidOnTimeout(s string) bool {
	return s == OnTimeoutApprove || s == OnTimeoutReject || s == OnTimeoutWait
}
