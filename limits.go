package convops

// Limits of one ingest request.
const (
	MaxBodyBytes      = 16 << 20 // larger bodies are refused with 413
	MaxBatchEvents    = 100000
	MaxReportedErrors = 100 // per-event errors listed in one answer
	MaxIDBytes        = 256 // conversationId and eventId
	MaxHandlingTimeMs = 31536000000
	// MaxClockSkewMs is how far after now an event may be stamped.
	MaxClockSkewMs = 5 * MinuteMs
)

// Event field names of the ingest API.
const (
	FieldConversationID = "conversationId"
	FieldEventID        = "eventId"
	FieldSkillID        = "skillId"
	FieldAgentID        = "agentId"
	FieldResolvedBy     = "resolvedBy"
	FieldResolvedAt     = "resolvedAt"
	FieldHandlingTimeMs = "handlingTimeMs"
)
