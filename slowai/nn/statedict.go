package nn

import (
	"fmt"
	"sort"
	"strings"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// KeyFromPath turns a scope path relative to a model's root ("down_blocks/0/resnets/0/conv1/weight", a leading
// "/" allowed) into its PyTorch state-dict key ("down_blocks.0.resnets.0.conv1.weight").
func KeyFromPath(path string) string {
	return strings.ReplaceAll(strings.Trim(path, "/"), "/", ".")
}

// PathFromKey is the inverse of KeyFromPath: "down_blocks.0.resnets.0.conv1.weight" ->
// "down_blocks/0/resnets/0/conv1/weight" (relative, no leading "/").
func PathFromKey(key string) string {
	return strings.ReplaceAll(key, ".", "/")
}

// ScopeAt returns the scope at a dotted module name below s, as PyTorch names submodules:
// ScopeAt(s, "down_blocks.0.resnets.1") is s.At("down_blocks").At("0").At("resnets").At("1").
// An empty name returns s.
func ScopeAt(s *model.Scope, dotted string) *model.Scope {
	if dotted == "" {
		return s
	}
	for _, part := range strings.Split(dotted, ".") {
		s = s.At("%s", part)
	}
	return s
}

// stateVars lists the variables under s that belong in a state dict: all but the store's random-number state.
func stateVars(s *model.Scope) []*model.Variable {
	var vs []*model.Variable
	for v := range s.IterVariables() {
		if v.Path() == "/"+model.RNGStateVariableName {
			continue
		}
		vs = append(vs, v)
	}
	return vs
}

// relKey is the state-dict key of variable v relative to scope s.
func relKey(s *model.Scope, v *model.Variable) string {
	rel := strings.TrimPrefix(v.Path(), strings.TrimSuffix(s.Scope(), "/"))
	return KeyFromPath(rel)
}

// StateDict returns the values of every variable under s (except the store's random-number state) keyed by their state-dict names relative to s.
// The tensors are the variables' own values (not copies): do not finalize them while the store is in use.
func StateDict(s *model.Scope) (map[string]*tensors.Tensor, error) {
	sd := make(map[string]*tensors.Tensor)
	for _, v := range stateVars(s) {
		k := relKey(s, v)
		if !v.HasValue() {
			return nil, fmt.Errorf("nn.StateDict: variable %q (key %q) has no value yet: run or initialize the model first", v.Path(), k)
		}
		t, err := v.Value()
		if err != nil {
			return nil, fmt.Errorf("nn.StateDict: reading %q: %w", k, err)
		}
		sd[k] = t
	}
	return sd, nil
}

// LoadReport lists what a partial load did, each list sorted.
type LoadReport struct {
	Loaded     []string // keys copied into variables
	Missing    []string // variables under the scope with no key in the state dict
	Unexpected []string // state-dict keys with no variable
}

// LoadStateDict sets every variable under s from sd, whose keys are state-dict names relative to s (see the
// package doc). It is strict, like PyTorch's load_state_dict: a variable without a key, a key without a variable,
// or a tensor whose shape or dtype differs from its variable is an error naming every such key, and then nothing
// is loaded. The variables must already exist, so build the model's graph once first (for instance
// model.Exec.Compile with the input shapes, or one call). The store takes ownership of the tensors.
func LoadStateDict(s *model.Scope, sd map[string]*tensors.Tensor) error {
	_, err := LoadStateDictPartial(s, sd, true)
	return err
}

// LoadStateDictPartial is LoadStateDict that tolerates missing and unexpected keys, listing them in the report
// instead (checkpoints often carry buffers a port does not use, such as CLIP's position_ids). Shape and dtype
// mismatches are still errors. With strict true it behaves as LoadStateDict.
func LoadStateDictPartial(s *model.Scope, sd map[string]*tensors.Tensor, strict bool) (LoadReport, error) {
	var rep LoadReport
	var problems []string
	vars := make(map[string]*model.Variable)
	for _, v := range stateVars(s) {
		k := relKey(s, v)
		vars[k] = v
		t, ok := sd[k]
		switch {
		case !ok:
			rep.Missing = append(rep.Missing, k)
		case t == nil:
			problems = append(problems, fmt.Sprintf("%q: nil tensor", k))
		case !t.Shape().Equal(v.Shape()):
			problems = append(problems, fmt.Sprintf("%q: state dict has %s, model variable %s wants %s", k, t.Shape(), v.Path(), v.Shape()))
		}
	}
	for k := range sd {
		if _, ok := vars[k]; !ok {
			rep.Unexpected = append(rep.Unexpected, k)
		}
	}
	sort.Strings(rep.Missing)
	sort.Strings(rep.Unexpected)
	if strict {
		for _, k := range rep.Missing {
			problems = append(problems, fmt.Sprintf("%q: missing from the state dict (model variable %s)", k, PathFromKey(k)))
		}
		for _, k := range rep.Unexpected {
			problems = append(problems, fmt.Sprintf("%q: unexpected key, no variable at scope path %s below %s", k, PathFromKey(k), s.Scope()))
		}
	}
	if len(vars) == 0 && len(sd) > 0 {
		problems = append(problems, fmt.Sprintf("scope %s has no variables: build the model graph once before loading", s.Scope()))
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		n := len(problems)
		const maxShown = 20
		more := ""
		if len(problems) > maxShown {
			more = fmt.Sprintf("\n  ... and %d more", len(problems)-maxShown)
			problems = problems[:maxShown]
		}
		return rep, fmt.Errorf("nn.LoadStateDict into scope %s: %d problem(s):\n  %s%s", s.Scope(), n, strings.Join(problems, "\n  "), more)
	}
	keys := make([]string, 0, len(vars))
	for k := range vars {
		if _, ok := sd[k]; ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := vars[k].SetValue(sd[k]); err != nil {
			return rep, fmt.Errorf("nn.LoadStateDict: setting %q: %w", k, err)
		}
		rep.Loaded = append(rep.Loaded, k)
	}
	return rep, nil
}

// CreateFromStateDict creates (or, for existing ones, checks the shape of and sets) a variable for every key of sd
// below s, so a model can be loaded before its graph is built: layers then find their weights already in place,
// and a layer asking for a different shape panics naming the variable. Keys the model never uses go unnoticed
// this way; call LoadStateDict after a first build to check everything.
func CreateFromStateDict(s *model.Scope, sd map[string]*tensors.Tensor) error {
	keys := make([]string, 0, len(sd))
	for k := range sd {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	store := s.Store()
	for _, k := range keys {
		full := model.JoinPath(s.Scope(), PathFromKey(k))
		v := store.GetVariable(full)
		if v == nil {
			if _, err := store.CreateVariable(full, sd[k]); err != nil {
				return fmt.Errorf("nn.CreateFromStateDict: key %q: %w", k, err)
			}
			continue
		}
		if !v.Shape().Equal(sd[k].Shape()) {
			return fmt.Errorf("nn.CreateFromStateDict: key %q has %s, existing variable %s has %s", k, sd[k].Shape(), full, v.Shape())
		}
		if err := v.SetValue(sd[k]); err != nil {
			return fmt.Errorf("nn.CreateFromStateDict: setting %q: %w", k, err)
		}
	}
	return nil
}
