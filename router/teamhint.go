package router

// withTeamHint is the route of a first dispatch when the channel named a
// team for the conversation (a QR code's team, in the message's `team`
// field, carried by the dispatch entry): a matching routing rule wins;
// without one the named team, if it exists, replaces the default team.
func (r *Router) withTeamHint(route Route, rule, team string) Route {
	if rule == "" && team != "" && r.knownTeam(team) {
		route.Team = team
	}
	return route
}
