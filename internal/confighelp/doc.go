// Package confighelp writes the settings of a program's configuration into
// its -help text, and generates the meanings that the help shows from the
// doc comments of the configuration structs, so that the help cannot drift
// from the code.
//
// A program's help lists each setting of config.Describe with its
// environment variable, YAML key, notes and default (WriteSettings). The
// meaning of each setting comes from a map in a generated file of the
// program, settingdocs.go, which a test of the program writes with
// ParseStruct, Renamer and GoFile and checks on every run:
//
//	//go:generate go test -run TestSettingDocsAreCurrent -update .
//
//	func writeHelp(w io.Writer) {
//		var defaults Config
//		_ = config.Defaults(&defaults)
//		confighelp.WriteSettings(w, config.Describe(&defaults),
//			confighelp.Tags(reflect.TypeFor[Config]()), settingDocs)
//	}
package confighelp
