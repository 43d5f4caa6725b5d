-- Links to the book's own pages stay on the site being read: nbdev writes a link to a function's documentation
-- with the published address (settings.ini's doc_host and doc_baseurl); this filter makes it relative, so a local
-- build, a fork's site or a copy on a laptop links to itself, and a link within a page does not reload it.
local base = 'https://ddpm-book.github.io/ddpm_book/'

function Link(el)
  if el.target:sub(1, #base) == base then
    local rel = el.target:sub(#base + 1)
    local input = quarto and quarto.doc and quarto.doc.input_file or ''
    if input:match('/modules/[^/]*$') then rel = '../' .. rel end
    el.target = rel
  end
  return el
end
