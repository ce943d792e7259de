//! `#[derive(ToJson, FromJson)]` for `unbusy::json`: the shapes serde's derives gave the wire
//! format (internally tagged enums, snake_case names), written as plain code over one value type.
//!
//! Serde's derives cost the background's WASM a reader and a writer per type and per data format,
//! plus buffering for internally tagged enums; this generates one small function each way.
//!
//! Attributes, under `#[json(...)]`:
//! - on a type: `tag = "type"` (an enum with struct and unit variants, tagged inside the object),
//!   `rename_all = "snake_case"` (variant names), `deny_unknown_fields`, `default` (missing fields
//!   are taken from `Default::default()`);
//! - on a field: `default`, `rename = "name"`, `skip_if = "path"` (not written when `path(&field)`);
//! - on a variant: `rename = "name"`.

use proc_macro::TokenStream;
use proc_macro2::TokenStream as Tokens;
use quote::quote;
use syn::{parse_macro_input, Attribute, Data, DeriveInput, ExprPath, Field, Fields, Ident, LitStr};

#[proc_macro_derive(ToJson, attributes(json))]
pub fn derive_to_json(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand(&input, to_json).unwrap_or_else(|error| error.to_compile_error()).into()
}

#[proc_macro_derive(FromJson, attributes(json))]
pub fn derive_from_json(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand(&input, from_json).unwrap_or_else(|error| error.to_compile_error()).into()
}

#[derive(Default)]
struct TypeOptions {
    tag: Option<String>,
    snake_case: bool,
    deny_unknown_fields: bool,
    default: bool,
}

#[derive(Default)]
struct FieldOptions {
    default: bool,
    rename: Option<String>,
    skip_if: Option<ExprPath>,
}

fn type_options(attrs: &[Attribute]) -> syn::Result<TypeOptions> {
    let mut options = TypeOptions::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("json")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("tag") {
                options.tag = Some(meta.value()?.parse::<LitStr>()?.value());
            } else if meta.path.is_ident("rename_all") {
                let case = meta.value()?.parse::<LitStr>()?;
                if case.value() != "snake_case" {
                    return Err(syn::Error::new(case.span(), "only snake_case is supported"));
                }
                options.snake_case = true;
            } else if meta.path.is_ident("deny_unknown_fields") {
                options.deny_unknown_fields = true;
            } else if meta.path.is_ident("default") {
                options.default = true;
            } else {
                return Err(meta.error("unknown json attribute"));
            }
            Ok(())
        })?;
    }
    Ok(options)
}

fn field_options(attrs: &[Attribute]) -> syn::Result<FieldOptions> {
    let mut options = FieldOptions::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("json")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("default") {
                options.default = true;
            } else if meta.path.is_ident("rename") {
                options.rename = Some(meta.value()?.parse::<LitStr>()?.value());
            } else if meta.path.is_ident("skip_if") {
                options.skip_if = Some(meta.value()?.parse::<LitStr>()?.parse()?);
            } else {
                return Err(meta.error("unknown json attribute"));
            }
            Ok(())
        })?;
    }
    Ok(options)
}

/// serde's snake_case for variant names: `SearchBusy` → `search_busy`.
fn snake_case(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push('_');
        }
        out.extend(c.to_lowercase());
    }
    out
}

fn variant_name(variant: &syn::Variant, options: &TypeOptions) -> syn::Result<String> {
    Ok(field_options(&variant.attrs)?.rename.unwrap_or_else(|| {
        let name = variant.ident.to_string();
        if options.snake_case {
            snake_case(&name)
        } else {
            name
        }
    }))
}

/// A named field with its options and its name on the wire.
struct NamedField<'a> {
    ident: &'a Ident,
    wire: String,
    options: FieldOptions,
}

fn named_fields(fields: &Fields) -> syn::Result<Vec<NamedField<'_>>> {
    match fields {
        Fields::Unit => Ok(Vec::new()),
        Fields::Named(named) => named
            .named
            .iter()
            .map(|field: &Field| {
                let ident = field.ident.as_ref().expect("named fields have names");
                let options = field_options(&field.attrs)?;
                let wire = options.rename.clone().unwrap_or_else(|| ident.to_string().trim_start_matches("r#").to_string());
                Ok(NamedField { ident, wire, options })
            })
            .collect(),
        Fields::Unnamed(unnamed) => Err(syn::Error::new_spanned(unnamed, "tuple fields have no JSON names")),
    }
}

fn expand(input: &DeriveInput, body: fn(&DeriveInput, &TypeOptions) -> syn::Result<Tokens>) -> syn::Result<Tokens> {
    if !input.generics.params.is_empty() {
        return Err(syn::Error::new_spanned(&input.generics, "generic types are not supported"));
    }
    body(input, &type_options(&input.attrs)?)
}

/// `(name, Some(&value as &dyn ToJson))` for each field, `None` where its `skip_if` holds: the
/// objects are written by one function, `json::object`, not one copy per type.
fn field_entries(named: &[NamedField], access: impl Fn(&Ident) -> Tokens) -> Vec<Tokens> {
    named
        .iter()
        .map(|field| {
            let wire = &field.wire;
            let value = access(field.ident);
            match &field.options.skip_if {
                Some(skip) => quote! { (#wire, if #skip(#value) { None } else { Some(#value as &dyn crate::json::ToJson) }) },
                None => quote! { (#wire, Some(#value as &dyn crate::json::ToJson)) },
            }
        })
        .collect()
}

fn to_json(input: &DeriveInput, options: &TypeOptions) -> syn::Result<Tokens> {
    let name = &input.ident;
    let body = match &input.data {
        Data::Struct(data) => {
            let named = named_fields(&data.fields)?;
            let entries = field_entries(&named, |ident| quote! { &self.#ident });
            quote! { crate::json::object(&[#(#entries),*]) }
        }
        Data::Enum(data) => {
            let arms = data
                .variants
                .iter()
                .map(|variant| {
                    let ident = &variant.ident;
                    let wire = variant_name(variant, options)?;
                    let named = named_fields(&variant.fields)?;
                    Ok(match &options.tag {
                        None if named.is_empty() => quote! { #name::#ident => crate::json::Json::String(::std::string::String::from(#wire)), },
                        None => return Err(syn::Error::new_spanned(variant, "a variant with fields needs #[json(tag = ...)] on its enum")),
                        Some(tag) => {
                            let bindings = named.iter().map(|field| field.ident);
                            let entries = field_entries(&named, |ident| quote! { #ident });
                            quote! {
                                #name::#ident { #(#bindings),* } => crate::json::object(&[
                                    (#tag, Some(&#wire as &dyn crate::json::ToJson)),
                                    #(#entries),*
                                ]),
                            }
                        }
                    })
                })
                .collect::<syn::Result<Vec<_>>>()?;
            quote! {
                #[allow(unused_variables)]
                match self { #(#arms)* }
            }
        }
        Data::Union(_) => return Err(syn::Error::new_spanned(input, "unions are not supported")),
    };
    Ok(quote! {
        impl crate::json::ToJson for #name {
            fn to_json(&self) -> crate::json::Json {
                #body
            }
        }
    })
}

/// `{ checks; Some(constructor { fields read from `fields` }) }` (`fields`: a `&[(String, Json)]`),
/// returning `None` from the enclosing function when one does not fit; `known` lists every name
/// the object may hold.
fn read_fields(constructor: Tokens, named: &[NamedField], options: &TypeOptions, known: &[String]) -> Tokens {
    let deny = options.deny_unknown_fields.then(|| quote! { if !crate::json::only_known(fields, &[#(#known),*]) { return None; } });
    let reads = named.iter().map(|field| {
        let ident = field.ident;
        let wire = &field.wire;
        if options.default {
            quote! { #ident: crate::json::field_or(fields, #wire, defaults.#ident)?, }
        } else if field.options.default {
            quote! { #ident: crate::json::field_or(fields, #wire, ::std::default::Default::default())?, }
        } else {
            quote! { #ident: crate::json::field(fields, #wire)?, }
        }
    });
    let defaults = options.default.then(|| quote! { let defaults = <Self as ::std::default::Default>::default(); });
    quote! {{ #deny #defaults Some(#constructor { #(#reads)* }) }}
}

fn from_json(input: &DeriveInput, options: &TypeOptions) -> syn::Result<Tokens> {
    let name = &input.ident;
    let mut variants_const = quote! {};
    let body = match &input.data {
        Data::Struct(data) => {
            let named = named_fields(&data.fields)?;
            let known: Vec<String> = named.iter().map(|f| f.wire.clone()).collect();
            let read = read_fields(quote! { #name }, &named, options, &known);
            quote! {
                let fields = value.as_object()?;
                #read
            }
        }
        Data::Enum(data) => {
            let mut wires = Vec::new();
            let mut arms = Vec::new();
            for variant in &data.variants {
                let ident = &variant.ident;
                let wire = variant_name(variant, options)?;
                let named = named_fields(&variant.fields)?;
                wires.push(wire.clone());
                arms.push(match &options.tag {
                    None => quote! { #wire => Some(#name::#ident), },
                    Some(tag) => {
                        let mut known = vec![tag.clone()];
                        known.extend(named.iter().map(|f| f.wire.clone()));
                        let read = read_fields(quote! { #name::#ident }, &named, options, &known);
                        quote! { #wire => #read, }
                    }
                });
            }
            variants_const = quote! {
                impl crate::json::Variants for #name {
                    const NAMES: &'static [&'static str] = &[#(#wires),*];
                }
            };
            match &options.tag {
                None => quote! {
                    match value.as_str()? { #(#arms)* _ => None }
                },
                Some(tag) => quote! {
                    let fields = value.as_object()?;
                    match crate::json::lookup(fields, #tag)?.as_str()? { #(#arms)* _ => None }
                },
            }
        }
        Data::Union(_) => return Err(syn::Error::new_spanned(input, "unions are not supported")),
    };
    Ok(quote! {
        impl crate::json::FromJson for #name {
            fn from_json(value: &crate::json::Json) -> ::std::option::Option<Self> {
                #body
            }
        }
        #variants_const
    })
}
