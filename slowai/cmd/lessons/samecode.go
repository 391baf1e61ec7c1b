package main

// The "show the code" rule: what a lesson builds from scratch appears in its cells as
// declarations equal to the library's. A notebook declaration whose doc comment has a line
//
//	//slowai:same slowai/learn Learner.Fit
//
// (package path relative to the module root, then Func, Type or Type.Method) must print the same
// as that declaration of the library, once both are gofmt-normalized, their doc comments dropped
// and, in the notebook's copy, the qualifier of that same package dropped (learn.Callback in the
// cell reads as Callback in package learn). sameCodeProblems lists every difference.

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/printer"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
)

// sameDirective is the comment that ties a notebook declaration to the library's.
const sameDirective = "//slowai:same"

// sameCodeProblems checks every //slowai:same declaration of the notebook nbPath (contents raw)
// against the library under root, the module root. Each problem names the notebook, the cell
// (1-based, as Jupyter counts all cells), the directive and what is wrong.
func sameCodeProblems(root, nbPath string, raw []byte) []string {
	nb, err := parseNotebook(nbPath, raw)
	if err != nil {
		return []string{err.Error()}
	}
	libs := map[string]*libPackage{}
	var problems []string
	for i, c := range nb.Cells {
		src := string(c.Source)
		if c.CellType != "code" || !strings.Contains(src, sameDirective) {
			continue
		}
		where := fmt.Sprintf("%s cell %d", nbPath, i+1)
		fset := token.NewFileSet()
		file, err := parser.ParseFile(fset, where, cellDeclarations(src), parser.ParseComments)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: cannot parse the declarations before %%%% as Go: %v", where, err))
			continue
		}
		for _, d := range findDirectives(file) {
			if d.err != "" {
				problems = append(problems, fmt.Sprintf("%s: %s: %s", where, d.text, d.err))
				continue
			}
			lib, ok := libs[d.pkg]
			if !ok {
				lib, err = loadLibPackage(root, d.pkg)
				if err != nil {
					lib = &libPackage{err: err}
				}
				libs[d.pkg] = lib
			}
			if lib.err != nil {
				problems = append(problems, fmt.Sprintf("%s: %s: %v", where, d.text, lib.err))
				continue
			}
			want, ok := lib.find(d.name)
			if !ok {
				problems = append(problems, fmt.Sprintf("%s: %s: package %s (%s) has no declaration %s", where, d.text, lib.name, d.pkg, d.name))
				continue
			}
			stripQualifier(d.node, lib.name)
			for _, dot := range lib.dots[d.name] {
				stripQualifier(d.node, dot)
			}
			got, err := printDecl(fset, file, d.node)
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s: %s: printing the notebook's declaration: %v", where, d.text, err))
				continue
			}
			if line, a, b, same := firstDifference(got, want); !same {
				problems = append(problems, fmt.Sprintf("%s: %s: the notebook's declaration differs from the library's at line %d:\n    notebook: %s\n    library:  %s",
					where, d.text, line, a, b))
			}
		}
	}
	return problems
}

// cellDeclarations turns a GoNB cell into a Go file holding its top-level declarations: lines
// that are GoNB commands (!shell, %magic) go, and so does main's body after the %% line.
func cellDeclarations(src string) string {
	var b strings.Builder
	b.WriteString("package main\n")
	for _, line := range strings.Split(src, "\n") {
		t := strings.TrimSpace(line)
		if t == "%%" || strings.HasPrefix(t, "%% ") {
			break
		}
		if strings.HasPrefix(line, "!") || strings.HasPrefix(line, "%") {
			b.WriteString("\n") // keep line numbers
			continue
		}
		b.WriteString(line)
		b.WriteString("\n")
	}
	return b.String()
}

// directive is one //slowai:same line and the declaration it marks.
type directive struct {
	text string   // the directive line as written
	pkg  string   // package path relative to the module root
	name string   // Func, Type or Type.Method
	node ast.Node // *ast.FuncDecl, *ast.GenDecl (one spec) or *ast.TypeSpec of a group
	err  string   // a malformed directive
}

// findDirectives returns the marked declarations of file, in source order.
func findDirectives(file *ast.File) []directive {
	var out []directive
	add := func(doc *ast.CommentGroup, node ast.Node) {
		if doc == nil {
			return
		}
		for _, c := range doc.List {
			if !strings.HasPrefix(c.Text, sameDirective) {
				continue
			}
			d := directive{text: c.Text, node: node}
			fields := strings.Fields(strings.TrimPrefix(c.Text, sameDirective))
			if len(fields) != 2 || !strings.HasPrefix(c.Text, sameDirective+" ") {
				d.err = "want //slowai:same <package path from the module root> <Func|Type|Type.Method>"
			} else {
				d.pkg, d.name = strings.Trim(fields[0], "/"), fields[1]
			}
			out = append(out, d)
		}
	}
	for _, decl := range file.Decls {
		switch decl := decl.(type) {
		case *ast.FuncDecl:
			add(decl.Doc, decl)
		case *ast.GenDecl:
			if len(decl.Specs) == 1 && !decl.Lparen.IsValid() {
				add(decl.Doc, decl)
			}
			for _, s := range decl.Specs {
				switch s := s.(type) {
				case *ast.TypeSpec:
					add(s.Doc, s)
				}
			}
		}
	}
	return out
}

// libPackage is a library package, parsed from its folder's non-test .go files.
type libPackage struct {
	name  string
	decls map[string]string // Func, Type, Type.Method (and lone var/const names) -> printed declaration
	// dots lists, per declaration, the packages its file dot-imports (by package name, the
	// import path's last element): a notebook has no dot imports, so its graph.Add is the
	// library's Add.
	dots map[string][]string
	err  error
}

// loadLibPackage parses root/pkg. Build tags are ignored: every non-test file is read, since a
// lesson may show code that only one engine's build uses.
func loadLibPackage(root, pkg string) (*libPackage, error) {
	dir := filepath.Join(root, filepath.FromSlash(pkg))
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("no library package %s: %w", pkg, err)
	}
	fset := token.NewFileSet()
	lib := &libPackage{decls: map[string]string{}, dots: map[string][]string{}}
	var names []string
	for _, e := range ents {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".go") && !strings.HasSuffix(e.Name(), "_test.go") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	for _, n := range names {
		path := filepath.Join(dir, n)
		file, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
		if err != nil {
			return nil, fmt.Errorf("parsing library package %s: %w", pkg, err)
		}
		if lib.name == "" {
			lib.name = file.Name.Name
		}
		var dots []string
		for _, imp := range file.Imports {
			if imp.Name != nil && imp.Name.Name == "." {
				p := strings.Trim(imp.Path.Value, "`\"")
				dots = append(dots, p[strings.LastIndex(p, "/")+1:])
			}
		}
		put := func(key string, node ast.Node) error {
			lib.dots[key] = dots
			s, err := printDecl(fset, file, node)
			if err != nil {
				return fmt.Errorf("printing %s of %s: %w", key, path, err)
			}
			lib.decls[key] = s
			return nil
		}
		for _, decl := range file.Decls {
			switch decl := decl.(type) {
			case *ast.FuncDecl:
				key := decl.Name.Name
				if decl.Recv != nil && len(decl.Recv.List) == 1 {
					key = receiverType(decl.Recv.List[0].Type) + "." + key
				}
				if err := put(key, decl); err != nil {
					return nil, err
				}
			case *ast.GenDecl:
				for _, s := range decl.Specs {
					var node ast.Node = s
					if len(decl.Specs) == 1 && !decl.Lparen.IsValid() {
						node = decl // a lone declaration is shown with its keyword
					}
					switch s := s.(type) {
					case *ast.TypeSpec:
						if err := put(s.Name.Name, node); err != nil {
							return nil, err
						}
					case *ast.ValueSpec:
						if len(s.Names) == 1 && node == ast.Node(decl) { // a lone var or const
							if err := put(s.Names[0].Name, node); err != nil {
								return nil, err
							}
						}
					}
				}
			}
		}
	}
	if lib.name == "" {
		return nil, fmt.Errorf("no library package %s: %s has no non-test .go files", pkg, dir)
	}
	return lib, nil
}

func (l *libPackage) find(name string) (string, bool) {
	s, ok := l.decls[name]
	return s, ok
}

// receiverType names a method's receiver type: T for T, *T, T[K] and *T[K].
func receiverType(e ast.Expr) string {
	for {
		switch x := e.(type) {
		case *ast.StarExpr:
			e = x.X
		case *ast.ParenExpr:
			e = x.X
		case *ast.IndexExpr:
			e = x.X
		case *ast.IndexListExpr:
			e = x.X
		case *ast.Ident:
			return x.Name
		default:
			return fmt.Sprintf("%T", e)
		}
	}
}

// stripQualifier rewrites pkg.X to X throughout node, so a cell that imports the library package
// reads the same as the package itself. It walks the AST by reflection: every field or slice
// element of type ast.Expr that holds pkg.X gets the bare X.
func stripQualifier(node ast.Node, pkg string) {
	exprType := reflect.TypeOf((*ast.Expr)(nil)).Elem()
	rewrite := func(v reflect.Value) {
		if v.IsNil() {
			return
		}
		if sel, ok := v.Interface().(*ast.SelectorExpr); ok {
			if id, ok := sel.X.(*ast.Ident); ok && id.Name == pkg {
				v.Set(reflect.ValueOf(sel.Sel))
			}
		}
	}
	ast.Inspect(node, func(n ast.Node) bool {
		v := reflect.ValueOf(n)
		if n == nil || v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
			return true
		}
		s := v.Elem()
		for i := 0; i < s.NumField(); i++ {
			f := s.Field(i)
			switch {
			case f.Type() == exprType:
				rewrite(f)
			case f.Kind() == reflect.Slice && f.Type().Elem() == exprType:
				for j := 0; j < f.Len(); j++ {
					rewrite(f.Index(j))
				}
			}
		}
		return true
	})
}

// printDecl prints a declaration the way gofmt would, with the comments inside it but not its doc
// comment (the notebook's explains the lesson, the library's the API; they may differ).
func printDecl(fset *token.FileSet, file *ast.File, node ast.Node) (string, error) {
	var start token.Pos
	switch n := node.(type) {
	case *ast.FuncDecl:
		n.Doc = nil
		start = n.Type.Pos()
	case *ast.GenDecl:
		n.Doc = nil
		if len(n.Specs) == 1 {
			switch s := n.Specs[0].(type) {
			case *ast.TypeSpec:
				s.Doc = nil
			case *ast.ValueSpec:
				s.Doc = nil
			}
		}
		start = n.Pos()
	case *ast.TypeSpec:
		n.Doc = nil
		start = n.Pos()
	}
	// Keep only the comments inside the declaration; the doc comment (and anything else before
	// it) stays out.
	var comments []*ast.CommentGroup
	for _, cg := range file.Comments {
		if cg.Pos() >= start && cg.End() <= node.End() {
			comments = append(comments, cg)
		}
	}
	var buf bytes.Buffer
	cfg := printer.Config{Mode: printer.UseSpaces | printer.TabIndent, Tabwidth: 8}
	if err := cfg.Fprint(&buf, fset, &printer.CommentedNode{Node: node, Comments: comments}); err != nil {
		return "", err
	}
	// A spec printed alone reads as a declaration once its keyword is back; gofmt the result.
	text := buf.String()
	if _, ok := node.(*ast.TypeSpec); ok {
		text = "type " + text
	}
	out, err := format.Source([]byte(text))
	if err != nil {
		return "", fmt.Errorf("gofmt: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// firstDifference compares two printed declarations line by line. It returns the 1-based line
// of the first difference and both sides' lines there ("(end)" past the last line).
func firstDifference(a, b string) (line int, la, lb string, same bool) {
	if a == b {
		return 0, "", "", true
	}
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; ; i++ {
		x, y := "(end)", "(end)"
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return i + 1, strings.TrimSpace(x), strings.TrimSpace(y), false
		}
	}
}
