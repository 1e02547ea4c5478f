package dedup

// fits reports whether candidate may join g: Options.Apart holds for it
// and no item already in g, so that no group ever holds two files the user
// decided about, whatever the keeper.
func (o *Options) fits(g *Group, candidate Item) bool {
	if o.Apart == nil {
		return true
	}
	if o.Apart(g.Keeper, candidate) {
		return false
	}
	for _, m := range g.Members {
		if o.Apart(m.Item, candidate) {
			return false
		}
	}
	return true
}
