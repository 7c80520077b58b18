package router

// botAuthor is the author of the FAQ bot's replies in a transcript: they
// are outbound messages but no agent's, so they neither count as a
// response for SLA clocks nor as an agent's reply in KPIs.
const botAuthor = "bot"
