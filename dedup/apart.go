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

// preferFirst moves the items Options.Prefer names ahead of the others,
// keeping the order of both.
func (o *Options) preferFirst(items []Item) {
	if o.Prefer == nil {
		return
	}
	var first, rest []Item
	for _, it := range items {
		if o.Prefer(it) {
			first = append(first, it)
		} else {
			rest = append(rest, it)
		}
	}
	copy(items, first)
	copy(items[len(first):], rest)
}
